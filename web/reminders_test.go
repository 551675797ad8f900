package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// TestAuditPageShowsReminders: a reminder that failed, and one sent, show
// on the Audit page, filtered by their actions.
func TestAuditPageShowsReminders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.claimFor(contosoID, "SP1234567")
	r := archive.Reminder{ClaimID: id, Channel: "smtp", Deadline: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), Days: 2}
	if _, err := f.ledger.ReminderFailed(ctx, r, "smtp: smtp 127.0.0.1: 451 4.3.0 try again later"); err != nil {
		t.Fatal(err)
	}
	if err := f.ledger.ReminderSent(ctx, r); err != nil {
		t.Fatal(err)
	}
	c, _ := f.session("vera")
	for _, action := range []string{"reminder_failed", "reminder_sent"} {
		rec := f.get("/audit?action="+action, c)
		page := rec.Body.String()
		if rec.Code != http.StatusOK || strings.Count(page, `<td class="nowrap">`+action+`</td>`) != 1 || !strings.Contains(page, fmt.Sprintf("claim:%d", id)) {
			t.Errorf("audit page filtered to %s = %d:\n%s", action, rec.Code, page)
		}
	}
}
