package remind

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	smtp := SMTPConfig{Host: "smtp.office365.com", From: "claimtrail@adatum-csp.com", To: []string{"team@adatum-csp.com"}}
	for _, tc := range []struct {
		name string
		cfg  Config
		key  string // the key the error names; "" for none
	}{
		{"empty", Config{}, ""},
		{"webhook", Config{WebhookURL: "https://hooks.example/x?sig=1"}, ""},
		{"smtp", Config{SMTP: smtp}, ""},
		{"bad webhook", Config{WebhookURL: "hooks.example/x?sig=secret"}, "webhook_url"},
		{"bad teams", Config{TeamsWebhookURL: "ftp://x"}, "teams_webhook_url"},
		{"zero days", Config{Days: []int{7, 0}}, "days"},
		{"too often", Config{Every: 10e9}, "every"},
		{"smtp without host", Config{SMTP: SMTPConfig{From: "a@b.c"}}, "smtp.host"},
		{"smtp bad security", Config{SMTP: SMTPConfig{Host: "h", Security: "ssl", From: "a@b.c", To: []string{"d@e.f"}}}, "smtp.security"},
		{"smtp no to", Config{SMTP: SMTPConfig{Host: "h", From: "a@b.c"}}, "smtp.to"},
		{"smtp bad from", Config{SMTP: SMTPConfig{Host: "h", From: "nobody", To: []string{"d@e.f"}}}, "smtp.from"},
		{"smtp clear password", Config{SMTP: SMTPConfig{Host: "mail.example", Security: "none", Username: "u", Password: "p", From: "a@b.c", To: []string{"d@e.f"}}}, "smtp.security"},
	} {
		err := tc.cfg.WithDefaults().Validate()
		var ke *KeyError
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("Validate(%s) = %v, want nil", tc.name, err)
		case tc.key != "" && (!errors.As(err, &ke) || ke.Key != tc.key):
			t.Errorf("Validate(%s) = %v, want an error about %s", tc.name, err, tc.key)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("Validate(%s) = %v: repeats the secret URL", tc.name, err)
		}
	}
}
