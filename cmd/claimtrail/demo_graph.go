package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest/graphfake"
)

// The demo's tenants (demo/config.yaml).
const (
	demoContoso   = "4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47"
	demoFabrikam  = "9b2e6d14-3a7f-4e51-b8c2-0f4a7d9e1c63"
	demoBrno      = "7e3f9a1c-2b6d-4d85-8c47-1f0e5a9b3d62"
	demoBackerei  = "2d7a5c3e-8f19-4b6a-a4d0-5e3c9b7f1a28"
	demoNorthwind = "5c8b2e7f-1a4d-4e96-a3f0-7d2c9b6e4a81"
)

// demoIncidents are what the demo's Graph says about the incidents its
// mail names, with one of each case "claimtrail claims show" explains:
//
//	EX1187453  an incident: eligible, its deadline firm from Graph's start
//	EX1195012  an incident whose post-incident review is published: the
//	           report goes into the claim's package
//	TM1191027  an advisory: not eligible, not in claims due
//	EX1321282  also in a forwarded notification mail: Graph's facts win
//
// CP1203317, which Fabrikam's mail names too, is not listed for Fabrikam:
// its claim's incident_listed item is missing.
var demoIncidents = []struct {
	tenants                                    []string
	id, title, service, classification, status string
	daysAgo                                    int
	hours                                      time.Duration
	report                                     bool
}{
	{[]string{demoContoso, demoBrno, demoBackerei}, "EX1187453", "Users can't access Exchange Online mailboxes via Outlook on the web", "Exchange Online", "incident", "serviceRestored", 24, 7 * time.Hour, false},
	{[]string{demoFabrikam}, "EX1195012", "Users may be unable to send or receive email", "Exchange Online", "incident", "postIncidentReviewPublished", 23, 5*time.Hour + 30*time.Minute, true},
	{[]string{demoFabrikam}, "TM1191027", "Some users may see delays when joining Teams meetings", "Microsoft Teams", "advisory", "serviceRestored", 23, 3 * time.Hour, false},
	{[]string{demoContoso}, "EX1321282", "Users may be unable to connect to Exchange Online", "Exchange Online", "incident", "serviceRestored", 22, 6*time.Hour + 35*time.Minute, false},
	{[]string{demoContoso}, "OD1189902", "Users may be unable to sync files with OneDrive", "OneDrive for Business", "incident", "serviceRestored", 22, 4 * time.Hour, false},
	{[]string{demoNorthwind}, "PB1190455", "Users may see delays refreshing Power BI reports", "Power BI", "incident", "serviceRestored", 21, 2 * time.Hour, false},
}

// startDemoGraph serves a fake Microsoft Graph Service Health API and token
// endpoint on loopback, seeded with demoIncidents around now, so the demo
// shows Service Health without credentials.
func startDemoGraph(now time.Time) (*graphfake.Server, error) {
	g, err := graphfake.Start()
	if err != nil {
		return nil, err
	}
	for _, inc := range demoIncidents {
		start := now.UTC().AddDate(0, 0, -inc.daysAgo).Truncate(time.Hour)
		end := start.Add(inc.hours)
		issue, err := json.Marshal(map[string]any{
			"id": inc.id, "title": inc.title, "service": inc.service, "feature": "demo",
			"classification": inc.classification, "status": inc.status, "origin": "microsoft",
			"startDateTime": start.Format(time.RFC3339), "endDateTime": end.Format(time.RFC3339),
			"isResolved": true, "lastModifiedDateTime": end.Add(2 * time.Hour).Format(time.RFC3339),
			"impactDescription": "Demo data served by claimtrail demo's fake Graph.",
			"posts": []any{map[string]any{"createdDateTime": end.Format(time.RFC3339), "postType": "regular",
				"description": map[string]string{"contentType": "text", "content": "The service is restored."}}},
		})
		if err != nil {
			g.Close()
			return nil, err
		}
		var report []byte
		if inc.report {
			report = fmt.Appendf(nil, "<!DOCTYPE html>\n<html><head><title>Post-incident report %s</title></head>\n"+
				"<body><h1>Post-incident report: %s</h1><p>%s</p><p>Start %s, end %s. Demo data served by claimtrail demo's fake Graph.</p></body></html>\n",
				inc.id, inc.id, inc.title, start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		for _, tenant := range inc.tenants {
			g.AddIssue(tenant, issue)
			if report != nil {
				g.AddReport(tenant, inc.id, report)
			}
		}
	}
	return g, nil
}

// demoGraphSection is the service_health configuration for the demo's Graph.
func demoGraphSection(g *graphfake.Server) string {
	return fmt.Sprintf(`service_health:
  graph_url: %s
  login_url: %s
  client_id: %s
  client_secret: %q
`, g.URL, g.URL, graphfake.ClientID, graphfake.ClientSecret)
}

// demoCases are the claims the demo points at, by tenant and incident, and
// what each shows.
var demoCases = []struct{ tenant, id, what string }{
	{demoContoso, "EX1187453", "an incident: eligible, deadline firm from Graph's start"},
	{demoFabrikam, "EX1195012", "post-incident review published: the report is in its package"},
	{demoFabrikam, "TM1191027", "an advisory: not eligible, left out of claims due"},
	{demoFabrikam, "CP1203317", "not listed for the tenant: incident_listed is missing"},
	{demoContoso, "EX1321282", "a forwarded notification gave facts too; Graph's win (claimtrail incidents show EX1321282)"},
}

// demoLookAt says which claims show what, with the commands to see it.
func demoLookAt(ctx context.Context, st *state, config string) string {
	var b strings.Builder
	for _, c := range demoCases {
		s, err := st.ledger.ClaimFor(ctx, c.tenant, c.id)
		if errors.Is(err, archive.ErrNotFound) {
			continue
		}
		if err != nil {
			return ""
		}
		fmt.Fprintf(&b, "  claimtrail claims --config %s show %d    # %s: %s\n", config, s.ID, c.id, c.what)
		if c.id == "EX1195012" {
			fmt.Fprintf(&b, "  claimtrail claims --config %s package %d -o %s.zip\n", config, s.ID, c.id)
		}
	}
	fmt.Fprintf(&b, "  claimtrail claims --config %s due --within 60d\n", config)
	return b.String()
}
