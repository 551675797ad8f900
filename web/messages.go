package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// parseSearchParam reads ?q=, the text of a search box: nil when there is
// none, a 400 saying why when archive.ParseSearch refuses it.
func parseSearchParam(q url.Values) (*archive.Search, error) {
	text := strings.TrimSpace(q.Get("q"))
	if text == "" {
		return nil, nil
	}
	s, err := archive.ParseSearch(text)
	if err != nil {
		return nil, badRequest("q=%q: %v", text, err)
	}
	return &s, nil
}

// parseSort reads ?sort= for a list whose sorts are sorts, the first the
// default; any other value is a 400 naming them.
func parseSort(q url.Values, sorts ...string) (string, error) {
	v := strings.TrimSpace(q.Get("sort"))
	if v == "" {
		return sorts[0], nil
	}
	if !slices.Contains(sorts, v) {
		return "", badRequest("sort=%q is not one of %s", v, strings.Join(sorts, ", "))
	}
	return v, nil
}

// listPageError turns a ledger's refusal of a cursor into a 400.
func listPageError(err error) error {
	if errors.Is(err, archive.ErrBadCursor) {
		return badRequest("%s", archive.ErrBadCursor.Error())
	}
	return err
}

// messageSorts are the messages list's sorts (and triage's), the default
// first.
var messageSorts = []string{string(archive.SortNewest), string(archive.SortOldest)}

// messageRow is one message of the messages list.
type messageRow struct {
	SHA256     string        `json:"sha256"`
	Sender     string        `json:"sender"`
	Subject    string        `json:"subject"`
	Received   time.Time     `json:"received"`
	Verdict    rules.Verdict `json:"verdict,omitempty"`
	Reason     rules.Reason  `json:"reason,omitempty"`
	TenantID   string        `json:"tenant_id,omitempty"`
	TenantName string        `json:"tenant_name,omitempty"`
	Incidents  []string      `json:"incident_ids"`
}

// messageFilter is the messages list's query: ?verdict=&q=&sort=.
type messageFilter struct {
	Verdict string
	Q       string
	Sort    string
}

// messageList is one page of the messages list and its filter.
type messageList struct {
	Rows   []messageRow
	Filter messageFilter
	pageInfo
	// Capped says Total stopped counting at archive.MessageCountCap.
	Capped bool
	// NextURL links the following page; empty on the last.
	NextURL string
}

// A page of the messages list holds defaultMessages messages unless
// ?limit= asks for up to maxMessages.
const (
	defaultMessages = 100
	maxMessages     = archive.MaxMessagePage
)

// messageRows returns the page of the messages list that the request's
// query asks for.
func (s *Server) messageRows(ctx context.Context, q url.Values, maxRows int) (messageList, error) {
	out := messageList{Filter: messageFilter{Verdict: strings.TrimSpace(q.Get("verdict")), Q: strings.TrimSpace(q.Get("q"))}}
	p, err := parsePage(q, defaultMessages, maxRows)
	if err != nil {
		return out, err
	}
	if out.Filter.Sort, err = parseSort(q, messageSorts...); err != nil {
		return out, err
	}
	search, err := parseSearchParam(q)
	if err != nil {
		return out, err
	}
	mq := archive.MessageQuery{Search: search, Sort: archive.MessageSort(out.Filter.Sort), Cursor: p.Cursor, Limit: p.Limit}
	switch v := rules.Verdict(out.Filter.Verdict); v {
	case "":
	case rules.Accepted, rules.Rejected, rules.Unmatched:
		mq.Verdicts = []rules.Verdict{v}
	default:
		return out, badRequest("verdict=%q is not accepted, rejected or unmatched", out.Filter.Verdict)
	}
	page, err := s.ledger.MessageList(ctx, mq)
	if err != nil {
		return out, listPageError(err)
	}
	out.Rows, err = s.rowsOf(ctx, page.Messages)
	out.pageInfo = pageInfo{Next: page.Next, Total: page.Total, Capped: page.TotalCapped}
	out.Capped = page.TotalCapped
	return out, err
}

// rowsOf is msgs as the lists show them, with their tenants' names.
func (s *Server) rowsOf(ctx context.Context, msgs []*archive.Message) ([]messageRow, error) {
	rows := make([]messageRow, 0, len(msgs))
	if len(msgs) == 0 {
		return rows, nil
	}
	tenants, err := s.ledger.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(tenants))
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	for _, m := range msgs {
		row := messageRow{SHA256: m.SHA256, Sender: m.Sender, Subject: m.Subject, Received: m.EvidenceDate().UTC(), Incidents: []string{}}
		if j := m.Judgment; j != nil {
			row.Verdict, row.Reason, row.TenantID, row.TenantName = j.Verdict, j.Reason, j.TenantID, names[j.TenantID]
			if j.Verdict == rules.Accepted && j.IncidentIDs != nil {
				row.Incidents = j.IncidentIDs
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (s *Server) messagesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v, err := s.messageRows(r.Context(), q, maxMessages)
	if err != nil {
		s.requestFailed(w, r, "message", err)
		return
	}
	if v.Next != "" {
		v.NextURL = nextURL("/messages", q, v.Next)
	}
	s.render(w, r, http.StatusOK, "messages", page0{Title: "Messages", Nav: "messages", Query: v.Filter.Q}, v)
}

func (s *Server) apiMessages(w http.ResponseWriter, r *http.Request) {
	v, err := s.messageRows(r.Context(), r.URL.Query(), maxMessages)
	if err != nil {
		s.requestFailed(w, r, "message", err)
		return
	}
	writeJSON(w, http.StatusOK, v.put(map[string]any{"messages": v.Rows}))
}
