package rules

import (
	"reflect"
	"strings"
	"testing"
)

// authorsOf reads addresses as Judge does.
func authorsOf(t *testing.T, addrs ...string) []author {
	t.Helper()
	out := make([]author, len(addrs))
	for i, a := range addrs {
		var problem string
		if out[i], problem = readAuthor(a); problem != "" {
			t.Fatalf("readAuthor(%q): %s", a, problem)
		}
	}
	return out
}

func TestAuthenticate(t *testing.T) {
	p := newTestPolicy(t)
	const exoHead = "spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=contoso.com; dkim=pass (signature was verified) header.d=contoso.com;"
	tests := []struct {
		name      string
		authors   []string
		ar        []string
		dkim      []DKIMResult
		auth      Authentication
		mismatch  bool
		uncovered []string
		warn      []string // each must appear in some warning
	}{
		{name: "header.from is the author's domain (RFC 7489 11.2)",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "contoso.com")}, auth: AuthPass},
		{name: "header.from is the author's subdomain: same organisation (RFC 7489 3.2)",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "mail.contoso.com")}, auth: AuthPass},
		{name: "header.from is the parent of the author's subdomain",
			authors: []string{"mark@it.contoso.com"}, ar: []string{stamp("pass", "contoso.com")}, auth: AuthPass},
		{name: "header.from of another organisation: mismatch",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "fabrikam.co.uk")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"},
			warn: []string{"header.from fabrikam.co.uk, but the author is at contoso.com"}},
		{name: "dmarc=none for another domain: the server read another From (RFC 8601 2.7.1)",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("none", "evil.example")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"},
			warn: []string{"checked header.from evil.example, but the author is at contoso.com"}},
		{name: "dmarc=none for the author's own domain is no mismatch",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("none", "contoso.com")},
			auth: AuthNone, uncovered: []string{"jane@contoso.com"}},
		{name: "dmarc=temperror for another domain: mismatch",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("temperror", "evil.example")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"}},
		{name: "look-alike with the author's domain as a prefix is another organisation",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "contoso.com.evil.example")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"}},
		{name: "another tenant's onmicrosoft.com name is another organisation",
			authors: []string{"admin@contoso.onmicrosoft.com"}, ar: []string{stamp("pass", "fabrikam.onmicrosoft.com")},
			auth: AuthNone, mismatch: true, uncovered: []string{"admin@contoso.onmicrosoft.com"}},
		{name: "dmarc=pass without header.from is not counted",
			authors: []string{"jane@contoso.com"}, ar: []string{mx + "; dmarc=pass (p=REJECT)"},
			auth: AuthNone, uncovered: []string{"jane@contoso.com"}, warn: []string{"dmarc=pass names no header.from"}},
		{name: "Exchange Online compauth=pass with no header.from anywhere is not counted",
			authors: []string{"jane@contoso.com"}, ar: []string{exoHead + "compauth=pass reason=100"},
			auth: AuthNone, uncovered: []string{"jane@contoso.com"}, warn: []string{"compauth=pass comes with no header.from"}},
		{name: "compauth=pass with dmarc=none counts for the stamp's header.from",
			authors: []string{"jane@contoso.com"}, ar: []string{exoStamp("none", "pass", "contoso.com")}, auth: AuthPass},
		{name: "compauth=pass with dmarc=bestguesspass counts for the stamp's header.from",
			authors: []string{"jane@contoso.com"}, ar: []string{exoStamp("bestguesspass", "pass", "contoso.com")}, auth: AuthPass},
		{name: "dmarc=bestguesspass alone is not a pass",
			authors: []string{"jane@contoso.com"}, ar: []string{exoStamp("bestguesspass", "none", "contoso.com")},
			auth: AuthNone, uncovered: []string{"jane@contoso.com"}},
		{name: "compauth=pass with dmarc=pass for another domain (the issue's shape)",
			authors: []string{"jane@contoso.com"}, ar: []string{exoStamp("pass", "pass", "other-domain.example")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"},
			warn: []string{"header.from other-domain.example, but the author is at contoso.com"}},
		{name: "compauth=pass next to dmarc=bestguesspass for another domain",
			authors: []string{"jane@contoso.com"}, ar: []string{exoStamp("bestguesspass", "pass", "other-domain.example")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"}},
		{name: "dmarc=fail keeps failing whatever header.from says",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("fail", "other-domain.example")},
			auth: AuthFail, uncovered: []string{"jane@contoso.com"}},
		{name: "compauth=fail beats a dmarc pass for the author",
			authors: []string{"jane@contoso.com"}, ar: []string{exoStamp("pass", "fail", "contoso.com")},
			auth: AuthFail},
		{name: "two dmarc results, one per author domain (RFC 7489 6.6.1)",
			authors: []string{"jane@contoso.com", "hans@fabrikam.co.uk"},
			ar:      []string{mx + "; dmarc=pass header.from=contoso.com; dmarc=pass header.from=fabrikam.co.uk"}, auth: AuthPass},
		{name: "a pass for one of two authors leaves the other uncovered",
			authors: []string{"jane@contoso.com", "ops@contoso.onmicrosoft.com"}, ar: []string{stamp("pass", "contoso.com")},
			auth: AuthNone, uncovered: []string{"ops@contoso.onmicrosoft.com"}},
		{name: "aligned DKIM covers the author the stamp does not (RFC 7489 3.1.1)",
			authors: []string{"jane@contoso.com", "ops@contoso.onmicrosoft.com"}, ar: []string{stamp("pass", "contoso.com")},
			dkim: []DKIMResult{{Domain: "contoso.onmicrosoft.com", Pass: true}}, auth: AuthPass},
		{name: "a mismatch is not repaired by an aligned DKIM pass",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "other-domain.example")},
			dkim: []DKIMResult{{Domain: "contoso.com", Pass: true}}, auth: AuthNone, mismatch: true},
		{name: "two stamps: the topmost decides, a different lower one warns (RFC 8601 5)",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "contoso.com"), exoStamp("pass", "pass", "other-domain.example")},
			auth: AuthPass, warn: []string{"says pass for other-domain.example, the receiving server's says pass for contoso.com"}},
		{name: "two stamps: a lower pass for the author does not repair the topmost's mismatch",
			authors: []string{"jane@contoso.com"}, ar: []string{stamp("pass", "other-domain.example"), stamp("pass", "contoso.com")},
			auth: AuthNone, mismatch: true, uncovered: []string{"jane@contoso.com"}, warn: []string{"may be forged"}},
		{name: "upper-case header.from and author domain",
			authors: []string{"Jane@CONTOSO.COM"}, ar: []string{stamp("pass", "Mail.CONTOSO.Com")}, auth: AuthPass},
		{name: "IDN header.from as U-label, author as A-label (RFC 5890)",
			authors: []string{"hans@xn--bckerei-mnchen-5hb60b.de"}, ar: []string{stamp("pass", "bäckerei-münchen.de")}, auth: AuthPass},
		{name: "IDN header.from as A-label, author as U-label (RFC 6532)",
			authors: []string{"hans@bäckerei-münchen.de"}, ar: []string{stamp("pass", "xn--bckerei-mnchen-5hb60b.de")}, auth: AuthPass},
		{name: "quoted header.from (RFC 8601 2.2 value is a quoted-string or token)",
			authors: []string{"jane@contoso.com"}, ar: []string{mx + `; dmarc=pass header.from="contoso.com"`}, auth: AuthPass},
		{name: "header.from with a trailing dot (RFC 1034 absolute name)",
			authors: []string{"jane@contoso.com"}, ar: []string{mx + "; dmarc=pass header.from=contoso.com."}, auth: AuthPass},
		{name: "header.from written as a whole address",
			authors: []string{"jane@contoso.com"}, ar: []string{mx + "; dmarc=pass header.from=jane@contoso.com"}, auth: AuthPass},
		{name: "header.from that is no domain is not counted",
			authors: []string{"jane@contoso.com"}, ar: []string{mx + "; dmarc=pass header.from=[192.0.2.1]"},
			auth: AuthNone, uncovered: []string{"jane@contoso.com"}, warn: []string{"not a domain"}},
		{name: "untrusted stamp never counts (RFC 8601 5)",
			authors: []string{"jane@contoso.com"}, ar: []string{"mx.google.com; dmarc=pass header.from=contoso.com"},
			auth: AuthNone, uncovered: []string{"jane@contoso.com"}},
	}
	for _, tt := range tests {
		m := &Message{AuthenticationResults: tt.ar, DKIM: tt.dkim}
		got := p.authenticate(m, authorsOf(t, tt.authors...))
		if got.auth != tt.auth || got.mismatch != tt.mismatch || (tt.uncovered != nil && !reflect.DeepEqual(got.uncovered, tt.uncovered)) {
			t.Errorf("%s: authenticate = %s mismatch %v uncovered %q; want %s mismatch %v uncovered %q\nwarnings: %q",
				tt.name, got.auth, got.mismatch, got.uncovered, tt.auth, tt.mismatch, tt.uncovered, got.warn)
		}
		if tt.auth == AuthPass && len(got.uncovered) > 0 {
			t.Errorf("%s: authenticate = pass with uncovered authors %q", tt.name, got.uncovered)
		}
		for _, w := range tt.warn {
			if !containsPart(got.warn, w) {
				t.Errorf("%s: authenticate warnings = %q, want one containing %q", tt.name, got.warn, w)
			}
		}
	}
}

// TestStampResults pins what one trusted header passes.
func TestStampResults(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		fail   bool
		passed []string
	}{
		{"Exchange Online pass", exoStamp("pass", "pass", "Contoso.COM"), false, []string{"contoso.com"}},
		{"compauth pass covers every header.from of the stamp", mx + "; dmarc=none header.from=a.example; dmarc=none header.from=b.example; compauth=pass", false, []string{"a.example", "b.example"}},
		{"softpass is not pass", exoStamp("none", "softpass", "contoso.com"), false, nil},
		{"fail with a pass", mx + "; dmarc=pass header.from=contoso.com; compauth=fail reason=001", true, []string{"contoso.com"}},
		{"spf and dkim alone pass nothing", mx + "; spf=pass smtp.mailfrom=contoso.com; dkim=pass header.d=contoso.com", false, nil},
	}
	for _, tt := range tests {
		ar, _ := ParseAuthenticationResults(tt.in)
		var warn []string
		fail, passed, _ := stampResults(ar, &warn)
		if fail != tt.fail || !reflect.DeepEqual(passed, tt.passed) {
			t.Errorf("%s: stampResults(%q) = %v, %q; want %v, %q", tt.name, strings.ReplaceAll(tt.in, "\r\n", " "), fail, passed, tt.fail, tt.passed)
		}
	}
}
