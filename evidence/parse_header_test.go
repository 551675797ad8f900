package evidence

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	cet := time.FixedZone("", 3600)
	tests := []struct {
		name    string
		in      string
		want    time.Time // zero: unreadable
		problem bool      // a warning is expected
	}{
		{"RFC 5322 3.3", "Thu, 13 Feb 2025 10:00:00 +0100", time.Date(2025, 2, 13, 10, 0, 0, 0, cet), false},
		{"no day of week", "13 Feb 2025 10:00:00 +0100", time.Date(2025, 2, 13, 10, 0, 0, 0, cet), false},
		{"comment zone name", "Thu, 13 Feb 2025 10:00:00 +0100 (CET)", time.Date(2025, 2, 13, 10, 0, 0, 0, cet), false},
		{"Exchange long comment", "Thu, 13 Feb 2025 10:00:00 +0100 (Central Europe Standard Time)", time.Date(2025, 2, 13, 10, 0, 0, 0, cet), false},
		{"zone name after offset", "Thu, 13 Feb 2025 10:00:00 +0100 CET", time.Date(2025, 2, 13, 10, 0, 0, 0, cet), false},
		{"no seconds (RFC 5322 3.3)", "13 Feb 2025 10:00 +0100", time.Date(2025, 2, 13, 10, 0, 0, 0, cet), false},
		{"single-digit day, double space", "Mon,  3 Mar 2025 09:15:00 +0100", time.Date(2025, 3, 3, 9, 15, 0, 0, cet), false},
		{"two-digit year below 50 (RFC 5322 4.3)", "Mon, 3 Mar 25 09:15:00 +0100", time.Date(2025, 3, 3, 9, 15, 0, 0, cet), false},
		{"two-digit year 50 and over", "Fri, 3 Mar 95 09:15:00 +0100", time.Date(1995, 3, 3, 9, 15, 0, 0, cet), false},
		{"obsolete zone EST is -0500 (RFC 5322 4.3)", "Mon, 3 Mar 2025 09:15:00 EST", time.Date(2025, 3, 3, 14, 15, 0, 0, time.UTC), false},
		{"GMT", "Mon, 3 Mar 2025 09:15:00 GMT", time.Date(2025, 3, 3, 9, 15, 0, 0, time.UTC), false},
		{"UT", "Mon, 3 Mar 2025 09:15:00 UT", time.Date(2025, 3, 3, 9, 15, 0, 0, time.UTC), false},
		{"CET name only", "Mon, 3 Mar 2025 09:15:00 CET", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"GMT+0100", "Mon, 3 Mar 2025 09:15:00 GMT+0100", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"offset with colon", "Mon, 3 Mar 2025 09:15:00 +01:00", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"lower case", "mon, 3 mar 2025 09:15:00 +0100", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"full names", "Monday, 3 March 2025 09:15:00 +0100", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"dots in time", "Mon, 3 Mar 2025 09.15.00 +0100", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"asctime", "Mon Mar  3 09:15:00 2025", time.Date(2025, 3, 3, 9, 15, 0, 0, time.UTC), true},
		{"Unix date", "Mon Mar  3 09:15:00 CET 2025", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"ISO 8601 UTC", "2025-03-03T09:15:00Z", time.Date(2025, 3, 3, 9, 15, 0, 0, time.UTC), false},
		{"ISO 8601 offset, fraction", "2025-03-03T09:15:00.123+01:00", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"ISO with space", "2025-03-03 09:15:00 +0100", time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC), false},
		{"no zone", "Mon, 3 Mar 2025 09:15:00", time.Date(2025, 3, 3, 9, 15, 0, 0, time.UTC), true},
		{"unknown zone", "Mon, 3 Mar 2025 09:15:00 XYZ", time.Date(2025, 3, 3, 9, 15, 0, 0, time.UTC), true},
		{"leap second", "Tue, 30 Jun 2015 23:59:60 +0000", time.Date(2015, 6, 30, 23, 59, 59, 0, time.UTC), false},
		{"31 April", "Wed, 31 Apr 2025 09:15:00 +0100", time.Time{}, true},
		{"hour 25", "Mon, 3 Mar 2025 25:15:00 +0100", time.Time{}, true},
		{"garbage", "yesterday-ish", time.Time{}, true},
		{"empty", "", time.Time{}, true},
		{"only comment", "(none)", time.Time{}, true},
		{"two offsets", "Mon, 3 Mar 2025 09:15:00 +0100 -0500", time.Time{}, true},
		{"bad offset", "Mon, 3 Mar 2025 09:15:00 +9999", time.Time{}, true},
		{"NUL bytes", "Mon, 3 Mar 2025 09:15:00 +0100\x00", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := parseDate(tt.in)
			if !got.Equal(tt.want) || got.IsZero() != tt.want.IsZero() {
				t.Errorf("parseDate(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if (problem != "") != tt.problem {
				t.Errorf("parseDate(%q) problem = %q, want one: %v", tt.in, problem, tt.problem)
			}
		})
	}
}

func TestFromAddresses(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string   // the sender
		authors []string // nil: just want
		warns   int
	}{
		{"bare addr-spec", "jana@contoso.cz", "jana@contoso.cz", nil, 0},
		{"name-addr", "Jana Nováková <jana@contoso.cz>", "jana@contoso.cz", nil, 0},
		{"domain lower-cased, local part kept", "Jana <Jana.Novakova@Contoso.CZ>", "Jana.Novakova@contoso.cz", nil, 0},
		{"quoted name with comma", `"Novák, Jan" <jan@contoso.cz>`, "jan@contoso.cz", nil, 0},
		{"quoted name with address inside", `"ceo@contoso.cz" <mallory@gmail.com>`, "mallory@gmail.com", nil, 0},
		{"quoted name with escaped quote", `"Jan \"JJ\" Novák" <jan@contoso.cz>`, "jan@contoso.cz", nil, 0},
		{"encoded-word name with comma (RFC 2047)", "=?utf-8?q?Nov=C3=A1k=2C_Jan?= <jan@contoso.cz>", "jan@contoso.cz", nil, 0},
		{"comment", "jan@contoso.cz (Jan Novák)", "jan@contoso.cz", nil, 0},
		{"IDN domain in UTF-8 (RFC 6532)", "Jan <jan@příklad.cz>", "jan@xn--pklad-zsa96e.cz", nil, 0},
		{"IDN domain as A-label", "Jan <jan@XN--PKLAD-ZSA96E.cz>", "jan@xn--pklad-zsa96e.cz", nil, 0},
		{"trailing dot in domain", "jan@contoso.cz.", "jan@contoso.cz", nil, 1},
		{"mailbox-list: two authors (RFC 5322 3.6.2)", "a@contoso.cz, B <b@Fabrikam.com>", "a@contoso.cz", []string{"a@contoso.cz", "b@fabrikam.com"}, 1},
		{"mailbox-list with an IDN second author", "a@contoso.cz, b@příklad.cz", "a@contoso.cz", []string{"a@contoso.cz", "b@xn--pklad-zsa96e.cz"}, 1},
		{"mailbox-list with an address literal kept as written (RFC 5321 4.1.3)", "a@contoso.cz, b@[192.0.2.1]", "a@contoso.cz", []string{"a@contoso.cz", "b@[192.0.2.1]"}, 2},
		{"mailbox-list with a broken address keeps it as written", "a@contoso.cz, b@", "a@contoso.cz", []string{"a@contoso.cz", "b@"}, 3},
		{"mailbox-list with an undecodable display name loses no address", "=?x-alien?q?Zorg?= <zorg@contoso.cz>, second@contoso.cz", "zorg@contoso.cz", []string{"zorg@contoso.cz", "second@contoso.cz"}, 2},
		{"missing comma between addresses", "Jan <jan@contoso.cz> Eva <eva@contoso.cz>", "jan@contoso.cz", []string{"jan@contoso.cz", "eva@contoso.cz"}, 1},
		{"unquoted name with dot", "Jan J. Novák <jan@contoso.cz>", "jan@contoso.cz", nil, 0},
		{"unquoted comma in name", "Novák, Jan <jan@contoso.cz>", "jan@contoso.cz", nil, 1},
		{"group without members", "undisclosed-recipients:;", "", []string{"undisclosed-recipients:;"}, 1},
		{"garbage", "not an address", "", []string{"not an address"}, 1},
		{"empty", "", "", []string{}, 1},
		{"only a name", "Jan Novák", "", []string{"Jan Novák"}, 1},
		{"at sign only", "@", "", []string{"@"}, 1},
		// UTS 46 maps a soft hyphen to nothing: the domain is empty.
		{"domain of a soft hyphen only (found by FuzzFromAddresses)", "<jan@\u00ad >", "", []string{"jan@\u00ad"}, 1},
		// RFC 5322 section 3.4.1: a quoted local part keeps its quotes.
		{"quoted local part holding an address", `"jane@contoso.com"@gmail.com`, `"jane@contoso.com"@gmail.com`, nil, 0},
		{"quoted local part in name-addr", `Jane <"jane@contoso.com"@gmail.com>`, `"jane@contoso.com"@gmail.com`, nil, 0},
		{"quoted local part with space", `"jane doe"@contoso.com`, `"jane doe"@contoso.com`, nil, 0},
		{"quoted local part with escaped quote", `"a\"b"@contoso.com`, `"a\"b"@contoso.com`, nil, 0},
		{"quoted dot-atom loses needless quotes", `"jane.doe"@contoso.com`, "jane.doe@contoso.com", nil, 0},
		{"quoted local part with two dots", `"jane..doe"@contoso.com`, `"jane..doe"@contoso.com`, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warnings []string
			authors, got := fromAddresses(tt.in, func(w string) { warnings = append(warnings, w) })
			if got != tt.want {
				t.Errorf("fromAddresses(%q) sender = %q, want %q", tt.in, got, tt.want)
			}
			want := tt.authors
			if want == nil {
				want = []string{tt.want}
			}
			if !slices.Equal(authors, want) {
				t.Errorf("fromAddresses(%q) authors = %q, want %q", tt.in, authors, want)
			}
			if len(warnings) != tt.warns {
				t.Errorf("fromAddresses(%q) warnings = %q, want %d", tt.in, warnings, tt.warns)
			}
		})
	}
}

func TestDecodeHeaderText(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		warns []string // substrings, one per expected warning
	}{
		{"plain", "Outage EX315207", "Outage EX315207", nil},
		{"ISO-8859-2 Q (RFC 2047 4.2)", "=?iso-8859-2?q?P=F8=EDli=B9_=BEluou=E8k=FD_k=F9=F2?=", "Příliš žluoučký kůň", nil},
		{"UTF-8 B", "=?UTF-8?B?w5puxJtjaCBkb2JyxJs=?=", "Úněch dobrě", nil},
		{"Windows-1252", "=?windows-1252?q?=80_500?=", "€ 500", nil},
		{"Latin-1 label read as Windows-1252", "=?iso-8859-1?q?=80_500?=", "€ 500", nil},
		{"space between words dropped (RFC 2047 6.2)", "=?utf-8?q?EX3?= =?utf-8?q?15207?=", "EX315207", nil},
		{"text between words kept", "=?utf-8?q?a?= and =?utf-8?q?b?=", "a and b", nil},
		{"language suffix (RFC 2231 5)", "=?utf-8*cs?q?=C4=8Dau?=", "čau", nil},
		{"unknown charset named", "=?x-klingon?q?abc?= =?utf-8?q?ok?=", "=?x-klingon?q?abc?= ok", []string{`unknown charset "x-klingon"`}},
		{"malformed base64 word", "=?utf-8?b?!!!?=", "=?utf-8?b?!!!?=", []string{"malformed"}},
		{"raw 8-bit Latin-1", "Gr\xfc\xdfe", "Grüße", nil},
		{"raw UTF-8", "Grüße", "Grüße", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warnings []string
			got := decodeHeaderText(tt.in, "Subject", func(w string) { warnings = append(warnings, w) })
			if got != tt.want {
				t.Errorf("decodeHeaderText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(warnings) != len(tt.warns) {
				t.Fatalf("decodeHeaderText(%q) warnings = %q, want %q", tt.in, warnings, tt.warns)
			}
			for i, w := range tt.warns {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("decodeHeaderText(%q) warning %q, want it to say %q", tt.in, warnings[i], w)
				}
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<abc@contoso.cz>", "abc@contoso.cz"},
		{"  <abc@contoso.cz> (comment)", "abc@contoso.cz"},
		{"abc@contoso.cz", "abc@contoso.cz"},
		{"abc@contoso.cz (no brackets)", "abc@contoso.cz"},
		{"<unclosed@contoso.cz", "unclosed@contoso.cz"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := messageID(tt.in); got != tt.want {
			t.Errorf("messageID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAddressesAsWritten(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		warns int
	}{
		{"list", `"Doe, Jane" <jane@partner.example>, bob@partner.example`, []string{"Doe, Jane <jane@partner.example>", "bob@partner.example"}, 0},
		{"encoded name", "=?iso-8859-2?q?Ji=F8=ED?= <jiri@contoso.cz>", []string{"Jiří <jiri@contoso.cz>"}, 0},
		{"group", "Team: a@x.example, b@x.example;", []string{"a@x.example", "b@x.example"}, 0},
		{"unparseable kept", "not, an; address", []string{"not, an; address"}, 1},
		{"empty", "  ", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warnings []string
			got := addressesAsWritten(tt.in, func(w string) { warnings = append(warnings, w) })
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("addressesAsWritten(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(warnings) != tt.warns {
				t.Errorf("addressesAsWritten(%q) warnings = %q, want %d", tt.in, warnings, tt.warns)
			}
		})
	}
}

// TestReadHeaderFactsAuthors: every address of every From field is an
// author; Sender stays the first address of the first field.
func TestReadHeaderFactsAuthors(t *testing.T) {
	tests := []struct {
		name    string
		froms   []string
		sender  string
		authors []string
		fields  int
	}{
		{"one From, one mailbox", []string{"Jane <jane@contoso.com>"}, "jane@contoso.com", []string{"jane@contoso.com"}, 1},
		{"mailbox-list (RFC 5322 3.6.2)", []string{"Jane <jane@contoso.com>, mark@IT.Contoso.com"}, "jane@contoso.com", []string{"jane@contoso.com", "mark@it.contoso.com"}, 1},
		{"two From fields (RFC 5322 3.6 allows one)", []string{"jane@contoso.com", "ap@contoso-refunds.example"}, "jane@contoso.com", []string{"jane@contoso.com", "ap@contoso-refunds.example"}, 2},
		{"first field unreadable: no Sender, the second still an author", []string{"undisclosed-recipients:;", "jane@contoso.com"}, "", []string{"undisclosed-recipients:;", "jane@contoso.com"}, 2},
		{"empty second field names nobody", []string{"jane@contoso.com", " "}, "jane@contoso.com", []string{"jane@contoso.com"}, 2},
		{"no From", nil, "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Facts
			h := header{"Date": {"Mon, 1 Dec 2025 08:14:48 +0000"}}
			if tt.froms != nil {
				h["From"] = tt.froms
			}
			readHeaderFacts(h, &f, func(string) {})
			if f.Sender != tt.sender || !slices.Equal(f.Authors, tt.authors) || f.FromFields != tt.fields {
				t.Errorf("readHeaderFacts(From %q) = Sender %q, Authors %q, FromFields %d; want %q, %q, %d",
					tt.froms, f.Sender, f.Authors, f.FromFields, tt.sender, tt.authors, tt.fields)
			}
		})
	}
}

// TestAutomationFacts: the header facts the rules read to tell automatic
// mail are recorded as written, in the full and in the streaming parse.
func TestAutomationFacts(t *testing.T) {
	tests := []struct {
		name   string
		header string
		auto   map[string]string
		report string
	}{
		{name: "a person's mail", header: "Content-Type: text/plain; charset=utf-8\r\n"},
		{name: "RFC 3834 Sieve vacation, folded, with a comment",
			header: "Auto-Submitted: auto-replied\r\n (vacation)\r\nPrecedence: bulk\r\nX-Autoreply: yes\r\n",
			auto:   map[string]string{"Auto-Submitted": "auto-replied (vacation)", "Precedence": "bulk", "X-Autoreply": "yes"}},
		{name: "field names in any case; the first of two values",
			header: "auto-submitted: auto-generated\r\nAUTO-SUBMITTED: no\r\n",
			auto:   map[string]string{"Auto-Submitted": "auto-generated"}},
		{name: "Exchange NDR marker with an empty value",
			header: "X-MS-Exchange-Message-Is-Ndr:\r\nX-Auto-Response-Suppress: All\r\n",
			auto:   map[string]string{"X-MS-Exchange-Message-Is-Ndr": "", "X-Auto-Response-Suppress": "All"}},
		{name: "RFC 3464 bounce", header: "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"b1\"\r\n", report: "delivery-status"},
		{name: "RFC 8098 read receipt, quoted and upper case", header: "Content-Type: Multipart/Report; Report-Type=\"Disposition-Notification\"; boundary=b1\r\n", report: "disposition-notification"},
		{name: "RFC 6522 report without report-type", header: "Content-Type: multipart/report; boundary=b1\r\n", report: "unknown"},
		{name: "report with a broken parameter list", header: "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\r\n", report: "delivery-status"},
		{name: "report-type on another media type is no report", header: "Content-Type: multipart/mixed; report-type=delivery-status; boundary=b1\r\n"},
		{name: "a hostile long value is clipped", header: "Precedence: " + strings.Repeat("bulk", 200) + "\r\n",
			auto: map[string]string{"Precedence": strings.Repeat("bulk", 50) + "..."}},
	}
	for _, tt := range tests {
		raw := []byte("From: Jane <jane.doe@contoso.com>\r\nSubject: EX1187453\r\nDate: Mon, 17 Feb 2025 09:30:00 +0100\r\n" +
			tt.header + "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nI am out of the office.\r\n--b1--\r\n")
		for _, opts := range []*ParseOptions{nil, {MaxBytes: 16}} {
			f, err := ParseBytes(raw, opts)
			if err != nil {
				t.Fatalf("%s: ParseBytes: %v", tt.name, err)
			}
			if opts != nil && !f.Truncated {
				t.Fatalf("%s: ParseBytes with MaxBytes %d did not stream", tt.name, opts.MaxBytes)
			}
			if !reflect.DeepEqual(f.Automation, tt.auto) || f.ReportType != tt.report {
				t.Errorf("%s (streamed %v): Automation, ReportType = %q, %q; want %q, %q", tt.name, f.Truncated, f.Automation, f.ReportType, tt.auto, tt.report)
			}
			if m := f.RulesMessage(); !reflect.DeepEqual(m.AutoFields, tt.auto) || m.ReportType != tt.report {
				t.Errorf("%s: RulesMessage() AutoFields, ReportType = %q, %q; want %q, %q", tt.name, m.AutoFields, m.ReportType, tt.auto, tt.report)
			}
		}
	}
}

// TestFromAddressesIgnoresQuotedAngleAddrs: when a From field is too broken
// for the address parsers, an angle-addr inside a quoted display name or a
// comment is text (RFC 5322 3.2.2, 3.2.4), never the author.
func TestFromAddressesIgnoresQuotedAngleAddrs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"angle-addr in a quoted name, a bare address after", `"<jane@contoso.com>" attacker@evil.example junk`, ""},
		{"angle-addr in a comment, a bare address after", `Jane (<jane@contoso.com>) attacker@evil.example;`, ""},
		{"angle-addr in a quoted name, the real one after", `"<jane@contoso.com>" <mallory@evil.example> junk, ,`, "mallory@evil.example"},
		{"quoted local part inside the angle-addr is kept", `Novák, Jan (IT) <"jan..novak"@contoso.cz> x <`, `"jan..novak"@contoso.cz`},
	}
	for _, tt := range tests {
		authors, sender := fromAddresses(tt.in, func(string) {})
		if sender != tt.want {
			t.Errorf("%s: fromAddresses(%q) = sender %q (authors %q), want %q", tt.name, tt.in, sender, authors, tt.want)
		}
		for _, a := range authors {
			if strings.EqualFold(a, "jane@contoso.com") {
				t.Errorf("%s: fromAddresses(%q) reads the quoted jane@contoso.com as an author: %q", tt.name, tt.in, authors)
			}
		}
	}
}
