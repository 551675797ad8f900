package ingest

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

// IncidentRecorder records incident facts read from a mail; *Syncer fits.
type IncidentRecorder interface {
	// RecordIncident records inc (with its snapshot) for tenantID; changed
	// says whether the ledger learnt something. Idempotent; safe for
	// concurrent use.
	RecordIncident(ctx context.Context, tenantID string, inc claims.Incident) (changed bool, err error)
}

// notificationScan bounds the text the cheap precheck looks at, as
// claims.ParseNotification bounds what it reads.
const notificationScan = 256 << 10

// notificationMarks are what a Service Health notification, forwarded in
// any way, says near its top; a text without one is not parsed.
var notificationMarks = []string{"service health", "issue type:"}

// mentionsServiceHealth is the precheck that keeps ParseNotification off
// the many messages that are no notification.
func mentionsServiceHealth(texts ...string) bool {
	for _, s := range texts {
		s = s[:min(len(s), notificationScan)]
		for _, m := range notificationMarks {
			if containsFoldASCII(s, m) {
				return true
			}
		}
	}
	return false
}

// containsFoldASCII reports whether s contains the lower-case ASCII
// needle in any case, without copying s.
func containsFoldASCII(s, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == needle[0] && strings.EqualFold(s[i:i+n], needle) {
			return true
		}
	}
	return false
}

// notificationFacts returns the provisional incident facts of the
// Service Health notifications a message carries (in its own text or in
// originals forwarded as attachments) for the incidents the judgment
// names, read at the message's date.
func notificationFacts(facts *evidence.Facts, j rules.Judgment, received time.Time) []claims.Incident {
	if facts == nil || j.Verdict != rules.Accepted || len(j.IncidentIDs) == 0 {
		return nil
	}
	var out []claims.Incident
	var visit func(f *evidence.Facts, depth int)
	visit = func(f *evidence.Facts, depth int) {
		if f == nil || depth > 3 {
			return
		}
		body := f.Text
		if strings.TrimSpace(body) == "" {
			body = f.HTMLText
		}
		if mentionsServiceHealth(f.Subject, body) {
			if inc, ok := claims.ParseNotification(f.Subject, body); ok && slices.Contains(j.IncidentIDs, inc.ID) &&
				!slices.ContainsFunc(out, func(o claims.Incident) bool { return o.ID == inc.ID }) {
				inc.ReadAt = received
				out = append(out, inc)
			}
		}
		for _, o := range f.Originals {
			visit(o.Facts, depth+1)
		}
	}
	visit(facts, 0)
	return out
}

// notifications returns the notification facts of a message judged j,
// read at its date (rec), when the pipeline records them; nil otherwise.
// They are taken before the message is recorded so that the message's
// parsed facts need not outlive its judging.
func (p *Pipeline) notifications(facts *evidence.Facts, j rules.Judgment, rec messageDates) []claims.Incident {
	if p.incidents == nil {
		return nil
	}
	received := rec.date.UTC()
	if received.IsZero() {
		received = rec.internal.UTC()
	}
	return notificationFacts(facts, j, received)
}

// recordNotifications records incs, the notification facts of a message
// whose recorded judgment is j, after the message itself was recorded. A
// failure is logged, never the message's: the mail is kept whatever
// happens to its facts. Facts of an incident j does not name (another
// worker recorded another judgment first) are left out.
func (p *Pipeline) recordNotifications(ctx context.Context, j rules.Judgment, incs []claims.Incident) {
	if p.incidents == nil || j.Verdict != rules.Accepted {
		return
	}
	for _, inc := range incs {
		if !slices.Contains(j.IncidentIDs, inc.ID) {
			continue
		}
		if _, err := p.incidents.RecordIncident(ctx, j.TenantID, inc); err != nil {
			p.log.Warn("ingest: could not record the incident facts of a Service Health notification; the message is kept, forward it again or import a catalog later",
				"incident_id", inc.ID, "tenant_id", j.TenantID, "err", err)
		}
	}
}

// messageDates are the dates a message's notification facts are read at:
// its Date header, else when the mailbox received it.
type messageDates struct{ date, internal time.Time }
