package evidence

import (
	"reflect"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

func TestRulesMessage(t *testing.T) {
	f := &Facts{
		From:                  "Jana <jana@contoso.cz>",
		Sender:                "jana@contoso.cz",
		Authors:               []string{"jana@contoso.cz", "petr@contoso.cz"},
		FromFields:            2,
		ReplyTo:               []string{"jana.private@gmail.com"},
		Subject:               "EX315207",
		Text:                  "text",
		HTMLText:              "html",
		URLs:                  []string{"https://x.example/"},
		AuthenticationResults: []string{"mx; dmarc=pass"},
		Automation:            map[string]string{"Auto-Submitted": "auto-replied"},
		ReportType:            "delivery-status",
		DKIM:                  []DKIMCheck{{Domain: "contoso.cz", Selector: "s1", Pass: true, Result: "pass"}, {Domain: "x.example", Error: "bad sig"}},
		Originals: []Original{
			{Raw: []byte("From: a@b.example\r\n\r\nx"), Facts: &Facts{Sender: "a@b.example", Originals: []Original{{Facts: &Facts{Sender: "deep@c.example"}}}}},
			{Raw: []byte("junk")}, // facts missing
		},
		Malformed:   false,
		Attachments: []Attachment{{Name: "a.pdf"}},
	}
	want := &rules.Message{
		From:                  "jana@contoso.cz",
		FromHeader:            "Jana <jana@contoso.cz>",
		Authors:               []string{"jana@contoso.cz", "petr@contoso.cz"},
		FromFields:            2,
		ReplyTo:               []string{"jana.private@gmail.com"},
		Subject:               "EX315207",
		Text:                  "text",
		HTMLText:              "html",
		URLs:                  []string{"https://x.example/"},
		AuthenticationResults: []string{"mx; dmarc=pass"},
		AutoFields:            map[string]string{"Auto-Submitted": "auto-replied"},
		ReportType:            "delivery-status",
		DKIM:                  []rules.DKIMResult{{Domain: "contoso.cz", Pass: true}, {Domain: "x.example", Error: "bad sig"}},
		Originals: []rules.Message{
			{From: "a@b.example", Originals: []rules.Message{{From: "deep@c.example"}}},
			{Malformed: true},
		},
	}
	got := f.RulesMessage()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RulesMessage() =\n%+v\nwant\n%+v", got, want)
	}

	// The rules get copies.
	got.URLs[0] = "changed"
	if f.URLs[0] != "https://x.example/" {
		t.Error("RulesMessage shares URLs with the facts")
	}
	got.Authors[1] = "changed"
	if f.Authors[1] != "petr@contoso.cz" {
		t.Error("RulesMessage shares Authors with the facts")
	}
	got.AutoFields["Auto-Submitted"] = "no"
	if f.Automation["Auto-Submitted"] != "auto-replied" {
		t.Error("RulesMessage shares Automation with the facts")
	}
}

func TestRulesMessageDKIMNilVersusEmpty(t *testing.T) {
	tests := []struct {
		name    string
		dkim    []DKIMCheck
		wantNil bool
	}{
		{"not verified", nil, true},
		{"verified, no signatures", []DKIMCheck{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := (&Facts{DKIM: tt.dkim}).RulesMessage()
			if (m.DKIM == nil) != tt.wantNil {
				t.Errorf("RulesMessage().DKIM = %#v, want nil: %v", m.DKIM, tt.wantNil)
			}
		})
	}
	if m := (*Facts)(nil).RulesMessage(); m != nil {
		t.Errorf("(*Facts)(nil).RulesMessage() = %+v, want nil", m)
	}
}

// A parsed forward reaches the rules with its original's facts.
func TestRulesMessageFromParse(t *testing.T) {
	var fwd parseCase
	for _, c := range featureCases {
		if c.name == "forward as attachment (message/rfc822)" {
			fwd = c
		}
	}
	f, err := ParseBytes(fwd.raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := f.RulesMessage()
	if m.From != "support@partner.example" || len(m.Originals) != 1 || m.Originals[0].From != "jana@contoso.cz" ||
		len(m.Originals[0].AuthenticationResults) != 1 {
		t.Errorf("RulesMessage() = %+v, want the partner's mail carrying jana@contoso.cz's original with its Authentication-Results", m)
	}
}
