package rules_test

import (
	"fmt"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

func ExamplePolicy_Judge() {
	p, err := rules.New(rules.Config{
		PartnerDomains:     []string{"northwind-partners.com"},
		TrustedAuthservIDs: []string{"mx.northwind-partners.com"},
	}, []rules.Tenant{{
		ID:      "72f988bf-86f1-41af-91ab-2d7cd011db47",
		Name:    "Contoso Ltd",
		Domains: []string{"contoso.com"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	j := p.Judge(&rules.Message{
		From:    "jane.doe@it.contoso.com",
		Subject: "Credit request (EX1187453)",
		AuthenticationResults: []string{
			"mx.northwind-partners.com; spf=pass smtp.mailfrom=it.contoso.com; dmarc=pass header.from=it.contoso.com",
		},
	})
	fmt.Println(j.Verdict, j.TenantID, j.Authentication, j.IncidentIDs)

	j = p.Judge(&rules.Message{From: "jane.doe.1984@gmail.com", Subject: "EX1187453"})
	fmt.Println(j.Verdict, j.Reason)
	// Output:
	// accepted 72f988bf-86f1-41af-91ab-2d7cd011db47 pass [EX1187453]
	// rejected personal_address
}

func ExampleNew() {
	_, err := rules.New(rules.Config{}, []rules.Tenant{
		{ID: "72f988bf-86f1-41af-91ab-2d7cd011db47", Name: "Contoso Ltd", Domains: []string{"contoso.com"}, Source: "tenants.yaml:3"},
		{ID: "not-a-guid", Name: "Fabrikam", Domains: []string{"fabrikam.com", "contoso.com"}, Source: "tenants.yaml:9",
			DomainSources: []string{"tenants.yaml:13", "tenants.yaml:14"}},
	})
	fmt.Println(err)
	// Output:
	// tenants.yaml:9: tenant "Fabrikam": id "not-a-guid" is not a tenant GUID; copy the tenant ID (8-4-4-4-12 hex digits) from Partner Center or Entra ID
	// tenants.yaml:14: domain "contoso.com" is listed for two tenants (Contoso Ltd at tenants.yaml:3)
}

func ExampleDeadline() {
	incident := time.Date(2026, time.February, 15, 10, 0, 0, 0, time.UTC)
	fmt.Println(rules.Deadline(incident, false).Format(time.RFC3339Nano))
	fmt.Println(rules.Deadline(incident, true).Format(time.RFC3339Nano))
	// Output:
	// 2026-03-31T23:59:59.999999999Z
	// 2026-04-30T23:59:59.999999999Z
}

func ExampleParseAuthenticationResults() {
	// Exchange Online writes no authserv-id.
	ar, err := rules.ParseAuthenticationResults("spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=contoso.com; " +
		"dmarc=pass action=none header.from=contoso.com;compauth=pass reason=100")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range ar.Results {
		fmt.Printf("%s=%s reason=%q header.from=%q\n", r.Method, r.Result, r.Reason, r.Props["header.from"])
	}
	// Output:
	// spf=pass reason="" header.from=""
	// dmarc=pass reason="" header.from="contoso.com"
	// compauth=pass reason="100" header.from=""
}
