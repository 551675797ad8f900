package claims

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is where a claim stands.
type Status string

// The statuses. Open and Ready follow the checklist (Claim.Ready); the
// others are set by an analyst, except Expired, which the poller also sets
// when the deadline passes before submission.
const (
	StatusOpen      Status = "open"
	StatusReady     Status = "ready"
	StatusSubmitted Status = "submitted"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
)

// allStatuses in lifecycle order.
var allStatuses = []Status{StatusOpen, StatusReady, StatusSubmitted, StatusApproved, StatusDenied, StatusExpired}

// Statuses returns every status in lifecycle order. The slice is a fresh
// copy.
func Statuses() []Status { return append([]Status(nil), allStatuses...) }

// ParseStatus returns the status called s, or an error listing them.
func ParseStatus(s string) (Status, error) {
	for _, st := range allStatuses {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(allStatuses))
	for i, st := range allStatuses {
		names[i] = string(st)
	}
	return "", fmt.Errorf("status %q is not one of %s", s, strings.Join(names, ", "))
}

// Fileable reports whether a claim in status s can still be filed with
// Microsoft, so that its deadline and days left matter.
func Fileable(s Status) bool { return s == StatusOpen || s == StatusReady }

// FileableStatuses returns the statuses in which a claim can still be
// filed (Fileable), in lifecycle order: what the ledger asks for when it
// looks for claims whose deadline matters.
func FileableStatuses() []Status {
	var out []Status
	for _, s := range allStatuses {
		if Fileable(s) {
			out = append(out, s)
		}
	}
	return out
}

// Expires reports whether a claim in status s expires at now: it can
// still be filed and its deadline has passed, unless an admin reopened it
// after the deadline had passed (reopenedAt): then it stays open until its
// deadline moves past the reopening (an analyst sets the real incident
// start) and that deadline passes in turn.
func Expires(s Status, deadline, reopenedAt, now time.Time) bool {
	if !Fileable(s) || deadline.IsZero() || !deadline.Before(now) {
		return false
	}
	return reopenedAt.IsZero() || reopenedAt.Before(deadline)
}

// Follow returns the status a claim in status s takes when it is or is not
// ready (Claim.Ready, which an ineligible claim never is, so Follow keeps
// it open): open and ready follow the checklist; the other statuses are an
// analyst's and stay.
func Follow(s Status, ready bool) Status {
	switch {
	case s == StatusOpen && ready:
		return StatusReady
	case s == StatusReady && !ready:
		return StatusOpen
	}
	return s
}

// Editable reports whether a claim's fields and evidence may change in
// status s: only before it goes to Microsoft. A submitted claim is
// reopened first; see EditError.
func Editable(s Status) bool { return Fileable(s) }

// LateFor reports whether evidence that arrives for a claim in status s is
// late: the claim went to Microsoft without it.
func LateFor(s Status) bool {
	return s == StatusSubmitted || s == StatusApproved || s == StatusDenied
}

// Actor is who asks for a status change, and whether they hold the admin
// role.
type Actor struct {
	Name  string
	Admin bool
}

// ErrTransition is matched (errors.Is) by a status change the lifecycle
// does not allow.
var ErrTransition = errors.New("status change not allowed")

// ErrAdminOnly is matched (errors.Is) by a change only an admin may make.
var ErrAdminOnly = errors.New("needs the admin role")

// transition is one status change an analyst may make. Open <-> ready
// follows the checklist and is not listed.
type transition struct {
	from, to Status
	admin    bool // only an admin may make it
	note     bool // it needs a note saying why
}

// lifecycle lists the changes: filing, Microsoft's answer, giving up, and
// reopening. A submitted claim is reopened by an analyst to correct it;
// an expired or denied one only by an admin, with a note, because that
// undoes a decision the trail already shows.
var lifecycle = []transition{
	{from: StatusOpen, to: StatusExpired},
	{from: StatusReady, to: StatusSubmitted},
	{from: StatusReady, to: StatusExpired},
	{from: StatusSubmitted, to: StatusApproved},
	{from: StatusSubmitted, to: StatusDenied},
	{from: StatusSubmitted, to: StatusOpen},
	{from: StatusExpired, to: StatusOpen, admin: true, note: true},
	{from: StatusDenied, to: StatusOpen, admin: true, note: true},
}

func find(from, to Status) (transition, bool) {
	for _, t := range lifecycle {
		if t.from == from && t.to == to {
			return t, true
		}
	}
	return transition{}, false
}

// Next returns the statuses an actor may move a claim in status from to,
// in lifecycle order: what a page offers.
func Next(from Status, admin bool) []Status {
	var out []Status
	for _, t := range lifecycle {
		if t.from == from && (admin || !t.admin) {
			out = append(out, t.to)
		}
	}
	return out
}

// Undoable reports whether an actor (admin or not) who moves a claim from
// -> to may move it back: a change they cannot undo (an analyst marking a
// claim expired or denied, which only an admin reopens) is worth a
// confirmation.
// "Back" may take several moves (a reopened claim is submitted again
// from open); open and ready count as one, since the claim follows between
// them by itself.
func Undoable(from, to Status, admin bool) bool {
	same := func(a, b Status) bool { return a == b || (Fileable(a) && Fileable(b)) }
	seen := []Status{to}
	for i := 0; i < len(seen); i++ {
		if same(seen[i], from) {
			return true
		}
		for _, n := range Next(seen[i], admin) {
			if !slices.Contains(seen, n) {
				seen = append(seen, n)
			}
		}
		if Fileable(seen[i]) { // the other of open and ready is one step away
			for _, n := range Next(map[Status]Status{StatusOpen: StatusReady, StatusReady: StatusOpen}[seen[i]], admin) {
				if !slices.Contains(seen, n) {
					seen = append(seen, n)
				}
			}
		}
	}
	return false
}

// NeedsNote reports whether moving a claim from -> to needs a note.
func NeedsNote(from, to Status) bool {
	t, ok := find(from, to)
	return ok && t.note
}

// IsReopen reports whether moving from -> to reopens a claim that had left
// the fileable statuses.
func IsReopen(from, to Status) bool { return to == StatusOpen && !Fileable(from) }

// CheckTransition says whether by may move claim c to status to, with note.
// The error wraps ErrTransition for a change the lifecycle does not allow
// (naming both statuses, and what is missing or allowed instead), for
// making a claim that is not eligible ready or submitted (saying why,
// IneligibleText), and
// ErrAdminOnly for one that needs the admin role.
func CheckTransition(c *Claim, to Status, by Actor, note string) error {
	if why := IneligibleText(c); why != "" && (to == StatusReady || to == StatusSubmitted) {
		return fmt.Errorf("cannot move from %s to %s: %s: %w", c.Status, to, why, ErrTransition)
	}
	t, ok := find(c.Status, to)
	if !ok {
		return transitionError(c, to)
	}
	if t.admin && !by.Admin {
		return fmt.Errorf("moving a claim from %s to %s needs the admin role; ask an admin: %w", c.Status, to, ErrAdminOnly)
	}
	if t.note && strings.TrimSpace(note) == "" {
		return fmt.Errorf("moving a claim from %s to %s needs a note saying why: %w", c.Status, to, ErrTransition)
	}
	return nil
}

func transitionError(c *Claim, to Status) error {
	msg := fmt.Sprintf("cannot move from %s to %s", c.Status, to)
	next := Next(c.Status, true)
	switch {
	case (to == StatusReady || to == StatusOpen) && Fileable(c.Status):
		msg += "; open and ready follow the checklist"
		if m := c.Missing(); len(m) > 0 {
			msg += " (missing: " + strings.Join(m, ", ") + ")"
		}
	case c.Status == StatusOpen && to == StatusSubmitted:
		msg += "; complete the checklist first (missing: " + strings.Join(c.Missing(), ", ") + ")"
	case len(next) == 0:
		msg += fmt.Sprintf("; %s is final", c.Status)
	default:
		names := make([]string, len(next))
		for i, s := range next {
			names[i] = string(s)
		}
		msg += "; allowed: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%s: %w", msg, ErrTransition)
}

// EditError says why the fields and evidence of a claim in status s cannot
// change, and what to do; nil when they can (Editable).
func EditError(s Status) error {
	if Editable(s) {
		return nil
	}
	var how string
	switch s {
	case StatusSubmitted:
		how = "reopen it first (status open) if it must be corrected"
	case StatusExpired, StatusDenied:
		how = "an admin can reopen it with a note"
	default:
		how = "it is final"
	}
	return fmt.Errorf("the claim is %s, so it cannot change; %s: %w", s, how, ErrTransition)
}
