package rules

import (
	"fmt"
	"strings"
	"testing"
)

// typicalMessage is a customer email as Outlook sends it: a quoted thread,
// an HTML rendering, a dozen Safe Links, two Authentication-Results headers
// and a DKIM result.
func typicalMessage() *Message {
	var text strings.Builder
	text.WriteString("Hello Northwind team,\n\nOur users could not reach their mailboxes between 09:10 and 13:40 CET. ")
	text.WriteString("The admin center shows incident EX1187453. About 240 users in Munich and Vienna were affected. ")
	text.WriteString("Please request the service credit on our behalf.\n\nKind regards,\nJane Doe\nIT Operations, Contoso Ltd\n")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&text, "\n> On %d March, Northwind Support wrote:\n> Ticket %d: we are looking into it; order 2025-%08d.\n", i+1, 40000+i, i)
	}
	m := customer()
	m.Text = text.String()
	m.HTMLText = strings.ReplaceAll(text.String(), "\n", " ")
	for i := 0; i < 12; i++ {
		m.URLs = append(m.URLs, fmt.Sprintf("https://eur01.safelinks.protection.outlook.com/?url=https%%3A%%2F%%2Fcontoso.sharepoint.com%%2Fsites%%2Fit%%2Fdoc%d&data=05%%7C02%%7C%%7Cabc%d", i, i))
	}
	m.AuthenticationResults = append(m.AuthenticationResults, "relay.contoso.com; spf=pass smtp.mailfrom=contoso.com")
	m.DKIM = []DKIMResult{{Domain: "contoso.com", Pass: true}}
	return &m
}

func BenchmarkJudge(b *testing.B) {
	p := newTestPolicy(b)
	m := typicalMessage()
	if j := p.Judge(m); j.Verdict != Accepted {
		b.Fatalf("Judge(typical) = %s/%s, want accepted", j.Verdict, j.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Judge(m)
	}
}

// megabyte is 1 MiB of mail-like prose with an incident ID, look-alike
// tokens and a percent-encoded link every few hundred bytes.
func megabyte() string {
	const para = "The outage EX1187453 affected 240 users (order INV25194, ref XEX251945Z, SP2019 farm). " +
		"See https://admin.microsoft.com/Adminportal/Home%23%2Fservicehealth%2F%3A%2Falerts%2FTM1191027 and tenant " +
		contosoID + ". Ünïcödé text and numbers 1234567 follow here; MC1187220 is an announcement.\n"
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString(para)
	}
	return b.String()[:1<<20]
}

func BenchmarkIncidentIDs1MB(b *testing.B) {
	p := newTestPolicy(b)
	s := megabyte()
	if ids := p.IncidentIDs(s); len(ids) != 2 {
		b.Fatalf("IncidentIDs(1 MiB) = %q, want EX1187453 and TM1191027", ids)
	}
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		p.IncidentIDs(s)
	}
}

func BenchmarkTenantIDs1MB(b *testing.B) {
	s := megabyte()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		TenantIDs(s)
	}
}

func BenchmarkParseAuthenticationResults(b *testing.B) {
	v := "mx.google.com;\r\n       dkim=pass header.i=@contoso.com header.s=selector1 header.b=\"R/ATP5Q2\";\r\n" +
		"       arc=pass (i=1 spf=pass spfdomain=contoso.com dkim=pass dkdomain=contoso.com dmarc=pass fromdomain=contoso.com);\r\n" +
		"       spf=pass (google.com: domain of jane@contoso.com designates 40.107.1.2 as permitted sender) smtp.mailfrom=jane@contoso.com;\r\n" +
		"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=contoso.com"
	b.ReportAllocs()
	for b.Loop() {
		ParseAuthenticationResults(v)
	}
}

func BenchmarkIsPersonalDomain(b *testing.B) {
	personalDomains() // the one-time load is measured by BenchmarkLoadPersonalDomains
	b.ReportAllocs()
	for b.Loop() {
		isPersonal("mail.contoso.co.uk")
	}
}

func BenchmarkLoadPersonalDomains(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		loadPersonalDomains()
	}
}

// BenchmarkAutomated is the check every message from a tenant now
// passes: a person's mail with the fields an Exchange server leaves.
func BenchmarkAutomated(b *testing.B) {
	m := typicalMessage()
	m.AutoFields = map[string]string{"X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent", "Precedence": "list"}
	m.Subject = "RE: Automatic reply: " + m.Subject
	if got := Automated(m); got != "" {
		b.Fatalf("Automated(typical) = %q, want not automatic", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		Automated(m)
		automationHints(m)
	}
}

// BenchmarkIncidentIDs1MBJapanese measures IncidentIDs on text that is
// almost all non-ASCII, where every character is folded (foldForMatch)
// and checked for its script.
func BenchmarkIncidentIDs1MBJapanese(b *testing.B) {
	p := newTestPolicy(b)
	const para = "お世話になっております。昨日の障害EX1187453により、東京オフィスの全員がメールを送受信できませんでした。" +
		"全角のＴＭ１１９１０２７も同じ障害です。ご確認をお願いいたします。\n"
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString(para)
	}
	s := sb.String()
	if ids := p.IncidentIDs(s); len(ids) != 2 {
		b.Fatalf("IncidentIDs(1 MiB Japanese) = %q, want EX1187453 and TM1191027", ids)
	}
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		p.IncidentIDs(s)
	}
}
