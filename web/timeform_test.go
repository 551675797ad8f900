package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/claims"
)

// TestTimeForm: the claim page's time fields take "2026-02-15 17:05"
// (24-hour, UTC) and the older datetime-local value, store RFC 3339, show
// the time in claims.TimeLayout, and refuse anything else with an error
// naming the field as the page does.
func TestTimeForm(t *testing.T) {
	f := newFixture(t)
	id := f.claimFor(contosoID, "EX315207")
	path := fmt.Sprintf("/claims/%d/fields", id)
	cookie, csrf := f.session("anna")
	tests := []struct {
		name, field, value string
		stored             string // "" when refused
		shown              string
	}{
		{"24-hour UTC", "downtime_start", "2026-02-15 17:05", "2026-02-15T17:05:00Z", "2026-02-15 17:05 UTC"},
		{"as the page shows it", "incident_start", "2026-02-14 23:30 UTC", "2026-02-14T23:30:00Z", "2026-02-14 23:30 UTC"},
		{"datetime-local", "downtime_start", "2026-02-16T08:15", "2026-02-16T08:15:00Z", "2026-02-16 08:15 UTC"},
		{"12-hour", "downtime_start", "2026-02-15 5:05 PM", "", `Downtime start (UTC): &#34;2026-02-15 5:05 PM&#34; is not a date and 24-hour time like 2026-02-15 17:05`},
		{"no time", "incident_start", "2026-02-15", "", `Incident start (UTC): &#34;2026-02-15&#34; is not a date and 24-hour time`},
	}
	for _, tt := range tests {
		rec := f.postForm(path, cookie, url.Values{"csrf": {csrf}, "field": {tt.field}, "value": {tt.value}})
		if tt.stored == "" {
			body := rec.Body.String()
			if rec.Code != http.StatusBadRequest || !strings.Contains(body, tt.shown) {
				t.Errorf("%s: POST %q = %d, want 400 saying %q; the page:\n%.1500s", tt.name, tt.value, rec.Code, tt.shown, body)
			}
			if kept := `value="` + tt.value + `"`; !strings.Contains(body, kept) {
				t.Errorf("%s: the refused value is not kept in its input (%s)", tt.name, kept)
			}
			continue
		}
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%s: POST %q = %d, want 303: %s", tt.name, tt.value, rec.Code, rec.Body)
			continue
		}
		c, err := f.ledger.Claim(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Fields[claims.Field(tt.field)].Value; got != tt.stored {
			t.Errorf("%s: %s stored as %q, want %q", tt.name, tt.field, got, tt.stored)
		}
		page := f.get(fmt.Sprintf("/claims/%d", id), cookie).Body.String()
		if !strings.Contains(page, `<div class="value">`+tt.shown+`</div>`) {
			t.Errorf("%s: the claim page does not show %s as %q", tt.name, tt.field, tt.shown)
		}
		if input := `value="` + strings.TrimSuffix(tt.shown, " UTC") + `"`; !strings.Contains(page, input) {
			t.Errorf("%s: the claim page's time input lacks %s", tt.name, input)
		}
	}
}
