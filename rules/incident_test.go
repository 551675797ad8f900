package rules

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// newTestPolicy is the policy most tests judge with: two tenants, a partner,
// Exchange Online and one trusted authserv-id.
func newTestPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := New(testConfig(), testTenants())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

const (
	contosoID  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	fabrikamID = "0b3a3d0e-5c1f-4c4e-9d6a-2f1e8c7b9a10"
	strangerID = "d1c2b3a4-1111-4222-8333-944455556666" // registered nowhere
)

func testConfig() Config {
	return Config{
		PartnerDomains:     []string{"northwind-partners.com"},
		TrustedAuthservIDs: []string{"mx.northwind-partners.com"},
		ExchangeOnline:     true,
		IncidentPrefixes:   map[string]string{"QX": "Quantum Exchange"},
	}
}

func testTenants() []Tenant {
	return []Tenant{
		{ID: contosoID, Name: "Contoso Ltd", Domains: []string{"contoso.com", "contoso.onmicrosoft.com"}, CSP: true, Source: "tenants.yaml:3"},
		{ID: strings.ToUpper(fabrikamID), Name: "Fabrikam", Domains: []string{"fabrikam.co.uk", "bäckerei-münchen.de", "facebook.com"}, Source: "tenants.yaml:9"},
	}
}

func TestIncidentIDs(t *testing.T) {
	p := newTestPolicy(t)
	tests := []struct {
		name  string
		texts []string
		want  []string
	}{
		{"plain 7 digits", []string{"Outage EX1234567 today"}, []string{"EX1234567"}},
		{"5 digits (2015)", []string{"EX25194"}, []string{"EX25194"}},
		{"6 digits", []string{"EX315207"}, []string{"EX315207"}},
		{"8 digits", []string{"TM12345678"}, []string{"TM12345678"}},
		{"lower case reported upper", []string{"see ex1234567"}, []string{"EX1234567"}},
		{"mixed case", []string{"Ex1234567 and tM1112332"}, []string{"EX1234567", "TM1112332"}},
		{"sentence end", []string{"It was EX1234567."}, []string{"EX1234567"}},
		{"parentheses", []string{"(EX1234567)"}, []string{"EX1234567"}},
		{"hash", []string{"#EX1234567"}, []string{"EX1234567"}},
		{"ID label", []string{"ID: ex1234567"}, []string{"EX1234567"}},
		{"possessive", []string{"EX1234567's impact"}, []string{"EX1234567"}},
		{"possessive, typographic apostrophe", []string{"EX1234567’s impact"}, []string{"EX1234567"}},
		{"quoted", []string{`"EX1234567"`, "«SP1234567»"}, []string{"EX1234567", "SP1234567"}},
		{"comma list", []string{"EX1234567,TM1234568;OD1234569"}, []string{"EX1234567", "OD1234569", "TM1234568"}},
		{"slash list", []string{"EX1234567/EX1234568"}, []string{"EX1234567", "EX1234568"}},
		{"underscore separates", []string{"report_EX1234567.pdf"}, []string{"EX1234567"}},
		{"line breaks", []string{"Incident:\r\nEX1234567\r\n"}, []string{"EX1234567"}},
		{"Service Health subject", []string{"EX1321282: Exchange Online Service Health Incident (Service Restored)"}, []string{"EX1321282"}},
		{"Service Health body", []string{"ID: EX1321282\nIssue type: Incident\nStart time: 2025-05-01"}, []string{"EX1321282"}},
		{"admin center URL", []string{"https://admin.microsoft.com/Adminportal/Home#/servicehealth/:/alerts/EX1234567"}, []string{"EX1234567"}},
		{"query parameter", []string{"https://admin.microsoft.com/?id=EX1234567&x=1"}, []string{"EX1234567"}},
		{"Safe Links wrapped URL", []string{"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fadmin.microsoft.com%2FAdminportal%2FHome%23%2Fservicehealth%2F%3A%2Falerts%2FEX1234567&data=05%7C02"}, []string{"EX1234567"}},
		{"double percent-encoded", []string{"u=https%253A%252F%252Fx%252FEX1234567"}, []string{"EX1234567"}},
		{"duplicates collapse", []string{"EX1234567", "ex1234567 EX1234567"}, []string{"EX1234567"}},
		{"sorted across texts", []string{"TM1112332", "EX25194"}, []string{"EX25194", "TM1112332"}},
		{"configured prefix", []string{"QX1234567"}, []string{"QX1234567"}},
		{"every default prefix", []string{"EX11111 FO11111 SB11111 OS11111 PB11111 SP11111 YA11111 MO11111 TM11111 OD11111 CR11111 CP11111 DZ11111 IT11111"},
			[]string{"CP11111", "CR11111", "DZ11111", "EX11111", "FO11111", "IT11111", "MO11111", "OD11111", "OS11111", "PB11111", "SB11111", "SP11111", "TM11111", "YA11111"}},
		{"leading zeros", []string{"EX0012345"}, []string{"EX0012345"}},
		{"non-breaking space around", []string{"EX1234567\u00a0"}, []string{"EX1234567"}},

		{"inside a longer token", []string{"XEX251945Z"}, nil},
		{"letter before", []string{"INV25194", "aEX1234567"}, nil},
		{"letter after", []string{"EX251945Z"}, nil},
		{"digit before", []string{"1EX1234567"}, nil},
		{"non-ASCII letter before", []string{"éEX1234567"}, nil},
		{"non-ASCII letter after", []string{"EX1234567é"}, nil},
		{"combining mark after", []string{"EX1234567\u0301"}, nil},
		{"too short", []string{"EX25", "EX1234"}, nil},
		{"too long", []string{"EX123456789"}, nil},
		{"Message Center post", []string{"MC123456", "MC1234567"}, nil},
		{"unknown prefix", []string{"AB1234567", "ZZ12345"}, nil},
		{"SharePoint version", []string{"SP2019", "SP2016 CU"}, nil},
		{"product name", []string{"Windows EX 2019"}, nil},
		{"spaced form not counted", []string{"EX 1234567"}, nil},
		{"hyphenated form not counted", []string{"EX-1234567"}, nil},
		{"Italian postcode", []string{"IT-00100 Roma"}, nil},
		{"decimal fragment", []string{"EX12345.67", "EX12345,6"}, nil},
		{"order number", []string{"Order 2025-12345678"}, nil},
		{"empty", []string{""}, nil},
		{"no texts", nil, nil},
		{"invalid UTF-8 around", []string{"\xffEX1234567\xfe"}, []string{"EX1234567"}},
	}
	for _, tt := range tests {
		got := p.IncidentIDs(tt.texts...)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: IncidentIDs(%q) = %q, want %q", tt.name, tt.texts, got, tt.want)
		}
	}
}

// TestIncidentIDsAsSeen pins the reading of IncidentIDs: IDs a person sees
// in a rendered mail are found, whatever the script around them and the
// forms of their characters (Unicode UAX #15 for NFKC, UAX #24 for scripts).
func TestIncidentIDsAsSeen(t *testing.T) {
	p := newTestPolicy(t)
	tests := []struct {
		name string
		text string
		want []string
	}{
		// Scripts written without spaces end an ID as a space does.
		{"Japanese kanji and kana around", "障害EX315207が発生しました", []string{"EX315207"}},
		{"katakana before, kanji after", "インシデントTM1112332対応", []string{"TM1112332"}},
		{"hiragana both sides", "これはsp1234567です", []string{"SP1234567"}},
		{"prolonged sound mark after", "EX315207ー", []string{"EX315207"}},
		{"Chinese", "事件编号EX315207已解决", []string{"EX315207"}},
		{"Chinese traditional", "事件編號EX315207，影響郵件", []string{"EX315207"}},
		{"Korean Hangul", "장애EX315207발생", []string{"EX315207"}},
		{"Korean with particle", "EX315207이 해결되었습니다", []string{"EX315207"}},
		{"Thai", "เหตุขัดข้องEX315207แล้ว", []string{"EX315207"}},
		{"half-width katakana", "ｼｮｳｶﾞｲEX315207ﾊｯｾｲ", []string{"EX315207"}},
		{"half-width prolonged and voiced marks", "ﾃﾞｰﾀｰEX315207ｰﾞ", []string{"EX315207"}},
		{"ideographic space and full stop", "障害　EX315207。", []string{"EX315207"}},
		// Letters of spaced scripts still join the token.
		{"Latin letters before", "ABEX315207", nil},
		{"Cyrillic letter before", "ЖEX315207", nil},
		{"Cyrillic letter after", "EX315207д", nil},
		{"Greek letter before", "αEX315207", nil},
		{"Arabic letter before", "عEX315207", nil},
		{"Hebrew letter after", "EX315207ש", nil},
		{"Han inside the number", "EX315障207", nil},
		// Full-width and other compatibility forms read as ASCII (NFKC).
		{"full-width ID", "ＥＸ３１５２０７", []string{"EX315207"}},
		{"full-width lower case", "ｅｘ３１５２０７", []string{"EX315207"}},
		{"full-width digits, ASCII prefix", "EX１２３４５６７", []string{"EX1234567"}},
		{"full-width prefix, ASCII digits", "ＥＸ315207", []string{"EX315207"}},
		{"full-width mix inside the number", "EX３15２07", []string{"EX315207"}},
		{"full-width in Japanese", "障害ＥＸ３１５２０７が発生", []string{"EX315207"}},
		{"full-width letter joins", "ＡＥＸ３１５２０７", nil},
		{"full-width parentheses", "（ＥＸ３１５２０７）", []string{"EX315207"}},
		{"mathematical bold", "𝐄𝐗𝟑𝟏𝟓𝟐𝟎𝟕", []string{"EX315207"}},
		// NFKC maps these to digits, but they are no part of an ID.
		{"superscript footnote after", "EX315207¹", []string{"EX315207"}},
		{"superscript digits", "EX³¹⁵²⁰⁷", nil},
		{"circled digits", "EX①②③④⑤⑥", nil},
		{"parenthesised digit after", "EX315207⑴", []string{"EX315207"}},
		{"circled letters", "ⒺⓍ315207", nil},
		{"Arabic-Indic digits", "EX٣١٥٢٠٧", nil},
		{"Arabic-Indic digit after", "EX315207٣", nil},
		{"Devanagari digits", "EX३१५२०७", nil},
		// Invisible characters are ignored, as a browser shows none.
		{"zero-width space inside", "EX315\u200b207", []string{"EX315207"}},
		{"zero-width space after prefix", "EX\u200b1234567", []string{"EX1234567"}},
		{"soft hyphen inside", "EX315\u00ad207", []string{"EX315207"}},
		{"zero-width joiner and non-joiner", "E\u200dX315\u200c207", []string{"EX315207"}},
		{"word joiner and BOM", "\ufeffEX\u2060315207", []string{"EX315207"}},
		{"zero-width space does not separate", "AB\u200bEX315207", nil},
		// Spaces of every width separate.
		{"non-breaking spaces", "\u00a0EX315207\u00a0", []string{"EX315207"}},
		{"narrow no-break space", "ID\u202fEX315207\u202f.", []string{"EX315207"}},
		{"percent-encoded full-width", "u=%EF%BC%A5%EF%BC%B8315207", []string{"EX315207"}},
	}
	for _, tt := range tests {
		if got := p.IncidentIDs(tt.text); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: IncidentIDs(%q) = %q, want %q", tt.name, tt.text, got, tt.want)
		}
	}
}

func TestFoldForMatchKeepsUnchangedText(t *testing.T) {
	for _, s := range []string{"", "plain ASCII EX315207", "Ünïcödé text", "障害が発生", "EX①②③"} {
		if got := foldForMatch(s); got != s {
			t.Errorf("foldForMatch(%q) = %q, want it unchanged", s, got)
		}
	}
	// Invalid bytes read as U+FFFD, a separator, so that removing an
	// ignored character between two of them cannot make a new one.
	for s, want := range map[string]string{"\xff\xfe": "\ufffd\ufffd", "\xc2\u00ad\xad": "\ufffd\ufffd"} {
		if got := foldForMatch(s); got != want || foldForMatch(got) != got {
			t.Errorf("foldForMatch(%q) = %q, want %q, the same when folded again", s, got, want)
		}
	}
}

// TestFoldStable checks foldStable's ranges against NFKC itself: no
// character it calls stable is changed by foldRune's general path.
func TestFoldStable(t *testing.T) {
	for r := rune(0x80); r < 0x10000; r++ {
		if !foldStable(r) {
			continue
		}
		c := string(r)
		if unicode.In(r, unicode.No, unicode.Lm, unicode.So) {
			continue
		}
		k := norm.NFKC.PropertiesString(c).Decomposition()
		if k != nil && !bytes.Equal(k, norm.NFC.PropertiesString(c).Decomposition()) {
			t.Errorf("foldStable(%U %q) = true, but NFKC maps it to %q", r, c, norm.NFKC.String(c))
		}
	}
}

func TestLooseIncidentIDs(t *testing.T) {
	p := newTestPolicy(t)
	tests := []struct {
		name, text string
		want       []looseID
	}{
		{"space", "about EX 1234567 today", []looseID{{"EX 1234567", "EX1234567"}}},
		{"hyphen", "EX-1234567", []looseID{{"EX-1234567", "EX1234567"}}},
		{"spaced hyphen", "TM - 1112332", []looseID{{"TM - 1112332", "TM1112332"}}},
		{"lower-case prefix is prose", "ex 1234567", nil},
		{"too few digits", "Windows EX 2019", nil},
		{"two hyphens", "EX--1234567", nil},
		{"unknown prefix", "AB 1234567", nil},
		{"strict form is not loose", "EX1234567", nil},
		{"full-width space", "ＥＸ　１２３４５６７", []looseID{{"EX 1234567", "EX1234567"}}},
		{"after Japanese text", "障害EX 1234567", []looseID{{"EX 1234567", "EX1234567"}}},
	}
	for _, tt := range tests {
		if got := p.looseIncidentIDs(tt.text); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: looseIncidentIDs(%q) = %v, want %v", tt.name, tt.text, got, tt.want)
		}
	}
}

func TestService(t *testing.T) {
	p := newTestPolicy(t)
	tests := []struct{ id, want string }{
		{"EX1234567", "Exchange Online"},
		{"ex1234567", "Exchange Online"},
		{"TM1112332", "Microsoft Teams"},
		{"QX1234567", "Quantum Exchange"},
		{"MC123456", ""},
		{"", ""},
		{"E", ""},
	}
	for _, tt := range tests {
		if got := p.Service(tt.id); got != tt.want {
			t.Errorf("Service(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestIncidentPrefixesAreCopies(t *testing.T) {
	p := newTestPolicy(t)
	m := p.IncidentPrefixes()
	m["ZZ"] = "mutated"
	delete(m, "EX")
	if got := p.IncidentIDs("ZZ12345 EX12345"); !reflect.DeepEqual(got, []string{"EX12345"}) {
		t.Errorf("after mutating the returned map, IncidentIDs = %q, want [EX12345]", got)
	}
	d := DefaultIncidentPrefixes()
	d["EX"] = "mutated"
	if got := DefaultIncidentPrefixes()["EX"]; got != "Exchange Online" {
		t.Errorf("DefaultIncidentPrefixes()[EX] = %q after mutating a copy, want Exchange Online", got)
	}
}

func TestParseIncidentID(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"EX1234567", "EX1234567", ""},
		{" ex315207\n", "EX315207", ""},
		{"ZZ9999999", "ZZ9999999", ""}, // the shape holds; Service says the prefix is unknown
		{"EX12345", "EX12345", ""},
		{"EX123456789", "", "two letters and 5 to 8 digits"},
		{"EX1234", "", "two letters and 5 to 8 digits"},
		{"EXO123456", "", "two letters and 5 to 8 digits"},
		{"EX 1234567", "", "two letters"},
		{"ＥＸ３１５２０７", "", "two letters"},
		{"MC123456", "", "Message Center"},
		{"", "", "not an incident ID"},
	} {
		got, err := ParseIncidentID(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseIncidentID(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseIncidentID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
