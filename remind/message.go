package remind

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
)

// Message is one reminder as the channels send it.
type Message struct {
	archive.Reminder
	// URL is the claim's page in the web app; "" without web.base_url.
	URL string
	// Now is when it was sent, for the time left.
	Now time.Time
}

// ID names the reminder for receivers that drop duplicates: a reminder
// may be sent again when claimtrail stops between sending it and
// recording it. "claim:12/2026-03-06T12:00:00Z/2d".
func (m Message) ID() string {
	return fmt.Sprintf("%s/%s/%dd", m.Subject(), m.Deadline.UTC().Format(time.RFC3339), m.Days)
}

// Tenant is the tenant's name, else its ID.
func (m Message) Tenant() string {
	if m.TenantName != "" {
		return m.TenantName
	}
	return m.TenantID
}

// Title is the one-line summary: "SLA claim due within 2 days: EX123456
// for Contoso Ltd".
func (m Message) Title() string {
	return fmt.Sprintf("SLA claim due within %s: %s for %s", plural(m.Days, "day"), m.IncidentID, m.Tenant())
}

// Left says the time left: "1 day 11 hours".
func (m Message) Left() string {
	d := m.Deadline.Sub(m.Now)
	if d < 0 {
		d = 0
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if days == 0 {
		return plural(hours, "hour")
	}
	return plural(days, "day") + " " + plural(hours, "hour")
}

// DeadlineText is the deadline, with "(provisional)" when it is.
func (m Message) DeadlineText() string {
	s := claims.FormatTime(m.Deadline)
	if m.Provisional {
		s += " (provisional)"
	}
	return s
}

// Text is the reminder in plain text, for email and the webhook.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "The SLA claim of %s for incident %s must reach Microsoft by %s: %s left.\n",
		m.Tenant(), m.IncidentID, m.DeadlineText(), m.Left())
	fmt.Fprintf(&b, "Status: %s. File it in Partner Center before the deadline, or it expires.\n", m.Status)
	if m.Provisional {
		b.WriteString("The deadline is provisional: it counts from the earliest evidence or a forwarded notification until Microsoft's record or an analyst gives the incident's start.\n")
	}
	if m.URL != "" {
		fmt.Fprintf(&b, "Claim: %s\n", m.URL)
	}
	return b.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
