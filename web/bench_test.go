package web

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// benchFixture adds n messages to a fixture: a third accepted (each its
// own claim), a third rejected, a third unmatched.
func benchFixture(b *testing.B, n int) *fixture {
	f := newFixture(b)
	ctx := context.Background()
	for i := range n {
		m := fixtureMail{name: fmt.Sprintf("bench%d", i), from: fmt.Sprintf("user%d@contoso.com", i),
			subject: fmt.Sprintf("Outage EX%d", 400000+i), body: "Down again.", received: testNow.Add(-time.Duration(i) * time.Hour)}
		switch i % 3 {
		case 0:
			m.judgment = accepted(contosoID, fmt.Sprintf("EX%d", 400000+i))
		case 1:
			m.from = fmt.Sprintf("user%d@gmail.com", i)
			m.judgment = rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress, Authentication: rules.AuthPass}
		default:
			m.judgment = rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: contosoID, Authentication: rules.AuthPass}
		}
		f.record(ctx, m, uint32(100+i))
	}
	return f
}

// The pages and API calls an analyst uses most, on a ledger of 600 mails
// (about 200 claims): report ms per request.
func BenchmarkPages(b *testing.B) {
	f := benchFixture(b, 600)
	c, _ := f.session("vera")
	for _, path := range []string{"/claims", "/api/v1/claims", "/claims/1", "/triage", "/audit", "/metrics"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				if rec := f.get(path, c); rec.Code != http.StatusOK {
					b.Fatalf("GET %s = %d", path, rec.Code)
				}
			}
		})
	}
}
