package rules

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "plain", in: "contoso.com", want: "contoso.com"},
		{name: "upper case", in: "Contoso.COM", want: "contoso.com"},
		{name: "trailing dot (RFC 1034 absolute name)", in: "contoso.com.", want: "contoso.com"},
		{name: "surrounding space", in: "  contoso.com\n", want: "contoso.com"},
		{name: "IDN to punycode", in: "bäckerei-münchen.de", want: "xn--bckerei-mnchen-5hb60b.de"},
		{name: "IDN upper case", in: "Bäckerei-München.DE.", want: "xn--bckerei-mnchen-5hb60b.de"},
		{name: "punycode stays", in: "xn--bckerei-mnchen-5hb60b.de", want: "xn--bckerei-mnchen-5hb60b.de"},
		{name: "punycode upper case", in: "XN--BCKEREI-MNCHEN-5HB60B.DE", want: "xn--bckerei-mnchen-5hb60b.de"},
		{name: "full-width letters (UTS 46 mapping)", in: "ＣＯＮＴＯＳＯ.com", want: "contoso.com"},
		{name: "eszett is not ss (non-transitional)", in: "straße.de", want: "xn--strae-oqa.de"},
		{name: "subdomain", in: "it.contoso.co.uk", want: "it.contoso.co.uk"},
		{name: "digits and hyphens", in: "365-contoso.com", want: "365-contoso.com"},

		{name: "empty", in: "", wantErr: true},
		{name: "only a dot", in: ".", wantErr: true},
		{name: "single label", in: "localhost", wantErr: true},
		{name: "empty label", in: "contoso..com", wantErr: true},
		{name: "leading dot", in: ".contoso.com", wantErr: true},
		{name: "two trailing dots", in: "contoso.com..", wantErr: true},
		{name: "space inside", in: "con toso.com", wantErr: true},
		{name: "underscore", in: "con_toso.com", wantErr: true},
		{name: "leading hyphen", in: "-contoso.com", wantErr: true},
		{name: "trailing hyphen", in: "contoso-.com", wantErr: true},
		{name: "address literal (RFC 5321)", in: "[192.0.2.1]", wantErr: true},
		{name: "IPv4 address", in: "192.0.2.1", wantErr: true},
		{name: "at sign", in: "jane@contoso.com", wantErr: true},
		{name: "bad punycode", in: "xn--zz.com", wantErr: true},
		{name: "label over 63 bytes", in: strings.Repeat("a", 64) + ".com", wantErr: true},
		{name: "name over 253 bytes", in: strings.Repeat("abcdefghi.", 26) + "com", wantErr: true},
		{name: "NUL byte", in: "contoso\x00.com", wantErr: true},
		{name: "invalid UTF-8", in: "contoso\xff.com", wantErr: true},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: NormalizeDomain(%q) = %q, want an error", tt.name, tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: NormalizeDomain(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeDomainIdempotent(t *testing.T) {
	for _, in := range []string{"bäckerei-münchen.de", "Contoso.COM.", "ＣＯＮＴＯＳＯ.com", "straße.de"} {
		once, err := NormalizeDomain(in)
		if err != nil {
			t.Fatalf("NormalizeDomain(%q): %v", in, err)
		}
		twice, err := NormalizeDomain(once)
		if err != nil || twice != once {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q (idempotent)", once, twice, err, once)
		}
	}
}

func TestOrganizationalDomain(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"registered domain", "contoso.com", "contoso.com"},
		{"subdomain", "it.contoso.com", "contoso.com"},
		{"deep subdomain", "a.b.it.contoso.com", "contoso.com"},
		{"two-label suffix (RFC 7489 3.2)", "mail.contoso.co.uk", "contoso.co.uk"},
		{"private suffix", "contoso.github.io", "contoso.github.io"},
		{"tenant initial domain", "contoso.onmicrosoft.com", "contoso.onmicrosoft.com"},
		{"tenant mail routing domain", "contoso.mail.onmicrosoft.com", "contoso.mail.onmicrosoft.com"},
		{"subdomain of tenant initial domain", "x.contoso.onmicrosoft.com", "contoso.onmicrosoft.com"},
		{"public suffix itself", "co.uk", "co.uk"},
	}
	for _, tt := range tests {
		if got := OrganizationalDomain(tt.in); got != tt.want {
			t.Errorf("%s: OrganizationalDomain(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestHasDomainSuffix(t *testing.T) {
	tests := []struct {
		d, parent string
		want      bool
	}{
		{"contoso.com", "contoso.com", true},
		{"it.contoso.com", "contoso.com", true},
		{"evilcontoso.com", "contoso.com", false},
		{"contoso.com.evil.net", "contoso.com", false},
		{"c0ntoso.com", "contoso.com", false},
		{"com", "contoso.com", false},
	}
	for _, tt := range tests {
		if got := hasDomainSuffix(tt.d, tt.parent); got != tt.want {
			t.Errorf("hasDomainSuffix(%q, %q) = %v, want %v", tt.d, tt.parent, got, tt.want)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	tests := []struct {
		name, addr    string
		local, domain string
		ok            bool
	}{
		{"plain", "jane@contoso.com", "jane", "contoso.com", true},
		{"RFC 5322 3.4.1 quoted local part with @", `"jane@contoso.com"@gmail.com`, `"jane@contoso.com"`, "gmail.com", true},
		{"RFC 5322 3.4.1 quoted local part with space", `"jane doe"@contoso.com`, `"jane doe"`, "contoso.com", true},
		{"RFC 5322 3.2.4 quoted-pair quote", `"a\"@b"@gmail.com`, `"a\"@b"`, "gmail.com", true},
		{"RFC 5322 3.2.4 quoted-pair backslash", `"a\\"@contoso.com`, `"a\\"`, "contoso.com", true},
		{"only @ is quoted", `"jane@contoso.com"`, "", "", false},
		{"unclosed quote", `"jane@contoso.com`, "", "", false},
		{"obsolete route-like local part", "a@b@contoso.com", "a@b", "contoso.com", true},
		{"no local part", "@contoso.com", "", "", false},
		{"no domain", "jane@", "", "", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		local, domain, ok := splitAddress(tt.addr)
		if local != tt.local || domain != tt.domain || ok != tt.ok {
			t.Errorf("%s: splitAddress(%s) = %q, %q, %v, want %q, %q, %v", tt.name, tt.addr, local, domain, ok, tt.local, tt.domain, tt.ok)
		}
	}
}
