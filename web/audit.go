package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/claimtrail/claimtrail/archive"
)

// auditRow is one audit entry as the pages and the API show it.
type auditRow struct {
	archive.AuditEntry
	// Summary is the details as "key: value" pairs, for the pages.
	Summary []string `json:"-"`
	// Folded says the details are too long for a line: the pages fold
	// them under Brief, their beginning, so that an entry stays a line or
	// two high (on a phone too).
	Folded bool   `json:"-"`
	Brief  string `json:"-"`
}

// auditBrief is how many characters of an entry's details the pages show
// before folding the rest away.
const auditBrief = 80

func newAuditRow(e archive.AuditEntry) auditRow {
	row := auditRow{AuditEntry: e}
	var m map[string]any
	if json.Unmarshal(e.Details, &m) != nil {
		row.Summary = []string{string(e.Details)}
		row.fold()
		return row
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := m[k]
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case nil:
			s = "–"
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		switch {
		case len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "":
			s = s[:12] + "…" // a hash; the API has it whole
		case len(s) > 200:
			s = s[:200] + "…"
		}
		row.Summary = append(row.Summary, k+": "+s)
	}
	row.fold()
	return row
}

// fold sets Folded and Brief when the summary is longer than a line.
func (row *auditRow) fold() {
	line := strings.Join(row.Summary, "; ")
	if len(row.Summary) <= 3 && utf8.RuneCountInString(line) <= auditBrief {
		return
	}
	row.Folded, row.Brief = true, line
	if r := []rune(line); len(r) > auditBrief {
		row.Brief = string(r[:auditBrief]) + "…"
	}
}

// claimAuditShown is how many of a claim's audit entries its page shows,
// the newest; a link leads to the rest (/audit?claim=N).
const claimAuditShown = 50

// claimAudit returns the newest claimAuditShown entries of a claim's
// audit (the claim's and its messages', present and past), oldest first.
func (s *Server) claimAudit(ctx context.Context, id int64) ([]auditRow, error) {
	rows, _, err := s.filterAudit(ctx, auditFilter{Claim: id, Limit: claimAuditShown})
	slices.Reverse(rows)
	return rows, err
}

// minHashPrefix is the fewest hex digits of a message hash a subject
// filter takes as a prefix: a range of the subject index, read whole before
// the newest entries are picked, so it must be narrow. Four digits select
// one message in 65,536.
const minHashPrefix = 4

// subjectFilter turns the subject filter as typed into an exact subject or
// a subject prefix, one of which is empty:
//
//   - a bare hex string of at least minHashPrefix digits is (the start
//     of) a message hash: "ab12" is the prefix "message:ab12", and 64
//     digits the subject "message:<sha256>";
//   - "message:" and fewer than 64 hex digits is a prefix too; an
//     ellipsis at the end, as the pages abbreviate hashes, is dropped;
//   - anything else is the exact subject: "claim:3" is not "claim:31".
func subjectFilter(s string) (exact, prefix string) {
	s = strings.TrimSpace(s)
	hexOf := func(h string) (string, bool) {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(h, "…"), "..."))
		return h, h != "" && len(h) <= 64 && strings.Trim(h, "0123456789abcdef") == ""
	}
	rest, isMessage := strings.CutPrefix(s, "message:")
	if !isMessage && len(s) < minHashPrefix {
		return s, ""
	}
	if h, ok := hexOf(rest); ok {
		if len(h) == 64 {
			return "message:" + h, ""
		}
		return "", "message:" + h
	}
	return s, ""
}

// auditFilter is the audit page's query.
type auditFilter struct {
	Actor  string
	Action string
	// Subject is the subject as typed: an exact subject ("claim:3",
	// "user:anna", "tenants") or part of a message hash (see
	// subjectFilter).
	Subject string
	// Claim, when above 0, keeps the entries of the claim and of its
	// messages, present and past.
	Claim  int64
	Before int64 // only entries with a smaller seq; 0 for the newest
	Limit  int
}

const (
	defaultAuditLimit = 200
	// auditPageLimit is the audit page's default page: fewer entries than
	// the API's, so that the page stays a sane height on a phone.
	auditPageLimit = 50
	maxAuditLimit  = 5000
)

// parseAuditFilter reads the filter and the page (paging.go's ?limit= and
// ?cursor=, the cursor being the seq the next page starts below; the older
// ?before= is still taken).
func parseAuditFilter(r *http.Request, defaultLimit int) (auditFilter, error) {
	q := r.URL.Query()
	f := auditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Subject: strings.TrimSpace(q.Get("subject"))}
	if _, prefix := subjectFilter(f.Subject); prefix != "" && len(prefix) < len("message:")+minHashPrefix {
		return f, badRequest("subject=%q: give at least %d hex digits of the message hash", f.Subject, minHashPrefix)
	}
	if c := q.Get("claim"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n <= 0 {
			return f, badRequest("claim=%q is not a claim ID", c)
		}
		f.Claim = n
	}
	var err error
	f.Before, f.Limit, err = parseAuditPage(q, defaultLimit)
	return f, err
}

// parseAuditPage reads ?limit=, ?cursor= and the older ?before=.
func parseAuditPage(q url.Values, defaultLimit int) (before int64, limit int, err error) {
	p, err := parsePage(q, defaultLimit, maxAuditLimit)
	if err != nil {
		return 0, 0, err
	}
	b, what := p.Cursor, "cursor"
	if b == "" {
		b, what = q.Get("before"), "before"
	}
	if b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			if what == "cursor" {
				return 0, 0, badRequest("cursor is not one this server gave: copy the \"next\" of the previous page")
			}
			return 0, 0, badRequest("before=%q is not a positive sequence number", b)
		}
		before = n
	}
	return before, p.Limit, nil
}

// auditPage puts the paging fields of paging.go into an answer, and the
// older next_before.
func auditPage(out map[string]any, rows []auditRow, more bool) map[string]any {
	var p pageInfo
	p.Total = -1 // counting millions of entries is not cheap
	if more && len(rows) > 0 {
		last := rows[len(rows)-1].Seq
		p.Next = strconv.FormatInt(last, 10)
		out["next_before"] = last
	}
	return p.put(out)
}

// filterAudit returns the newest entries f selects, newest first, and
// whether older ones matched too.
func (s *Server) filterAudit(ctx context.Context, f auditFilter) ([]auditRow, bool, error) {
	af := archive.AuditFilter{Actor: f.Actor, Claim: f.Claim, Before: f.Before, Limit: f.Limit + 1}
	af.Subject, af.SubjectPrefix = subjectFilter(f.Subject)
	if f.Action != "" {
		af.Actions = []archive.Action{archive.Action(f.Action)}
	}
	entries, err := s.ledger.AuditEntries(ctx, af)
	if err != nil {
		return nil, false, err
	}
	more := len(entries) > f.Limit
	if more {
		entries = entries[:f.Limit]
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		rows[i] = newAuditRow(e)
	}
	return rows, more, nil
}

type auditView struct {
	Rows    []auditRow
	Filter  auditFilter
	More    bool
	NextURL string // the link to the next page
	Verify  verification
	Actions []archive.Action
}

// auditActions are offered in the filter; others can still be typed.
var auditActions = archive.Actions()

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	f, err := parseAuditFilter(r, auditPageLimit)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	rows, more, err := s.filterAudit(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := auditView{Rows: rows, Filter: f, More: more, Verify: s.verifyAudit(r.Context()), Actions: auditActions}
	if more && len(rows) > 0 {
		v.NextURL = nextURL("/audit", r.URL.Query(), strconv.FormatInt(rows[len(rows)-1].Seq, 10))
	}
	s.render(w, r, http.StatusOK, "audit", page0{Title: "Audit trail", Nav: "audit"}, v)
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	f, err := parseAuditFilter(r, defaultAuditLimit)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	rows, more, err := s.filterAudit(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditPage(map[string]any{"entries": rows}, rows, more))
}

func (s *Server) apiAuditVerify(w http.ResponseWriter, r *http.Request) {
	v := s.verifyAudit(r.Context())
	status := http.StatusOK
	if v.Error != "" && v.Entries == 0 && len(v.Problems) == 0 {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, v)
}
