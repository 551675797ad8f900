package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// Classification is a Service Health issue's classification: incident or
// advisory. Values Microsoft adds later ("unknownFutureValue", ...) are kept,
// lower-cased, so they read back as they came.
type Classification string

// The classifications Microsoft documents. An advisory earns no credit.
const (
	ClassificationIncident Classification = "incident"
	ClassificationAdvisory Classification = "advisory"
)

// ParseClassification reads a classification in any case ("Incident",
// "ADVISORY"), trimmed. An unknown value is kept, lower-cased
// ("unknownFutureValue" -> "unknownfuturevalue"): it is never an error,
// and it does not make a claim ineligible (Eligible).
func ParseClassification(s string) Classification {
	return Classification(strings.ToLower(strings.TrimSpace(s)))
}

// Source says where a set of incident facts came from.
type Source string

// The sources of incident facts, most trusted first.
const (
	// SourceGraph is Microsoft Graph in the customer's tenant: Microsoft's
	// own record, and the only one that says whether the tenant was hit.
	SourceGraph Source = "graph"
	// SourceCatalog is an offline export of Service Health issues.
	SourceCatalog Source = "catalog"
	// SourceNotification is a forwarded Service Health notification mail:
	// provisional facts, as of when the mail was sent.
	SourceNotification Source = "notification"
)

// Rank orders sources by precedence: graph 3, catalog 2, notification 1,
// anything else 0.
func (s Source) Rank() int {
	switch s {
	case SourceGraph:
		return 3
	case SourceCatalog:
		return 2
	case SourceNotification:
		return 1
	}
	return 0
}

// Incident is Microsoft's record of a Service Health issue as one source
// told it, and when it was read. It marshals to JSON and back unchanged.
type Incident struct {
	ID                string         `json:"id"` // canonical, rules.ParseIncidentID
	Title             string         `json:"title,omitempty"`
	Classification    Classification `json:"classification,omitempty"`
	Service           string         `json:"service,omitempty"`
	Feature           string         `json:"feature,omitempty"`
	FeatureGroup      string         `json:"feature_group,omitempty"`
	Status            string         `json:"status,omitempty"` // CanonicalIssueStatus
	Start             time.Time      `json:"start,omitzero"`   // UTC
	End               time.Time      `json:"end,omitzero"`     // UTC; zero while ongoing
	IsResolved        bool           `json:"is_resolved,omitempty"`
	ImpactDescription string         `json:"impact_description,omitempty"`
	LastModified      time.Time      `json:"last_modified,omitzero"`
	Posts             []Post         `json:"posts,omitempty"`

	Source Source    `json:"source"`
	ReadAt time.Time `json:"read_at,omitzero"` // set by whoever read it
	// Raw is the issue object as read (compact JSON), unknown fields
	// included; nil for a notification.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Post is one update Microsoft posted on an issue.
type Post struct {
	Created     time.Time `json:"created,omitzero"`
	Type        string    `json:"type,omitempty"`        // postType: regular, quick, strikethrough, ...
	Description string    `json:"description,omitempty"` // the content, HTML or text as posted
}

// StatusPIRPublished is the issue status once Microsoft published the
// post-incident review: only then does the incident report exist.
const StatusPIRPublished = "postIncidentReviewPublished"

// issueStatuses are the statuses Graph documents, in their canonical case.
var issueStatuses = []string{
	"serviceOperational", "investigating", "restoringService", "verifyingService",
	"serviceRestored", StatusPIRPublished, "serviceDegradation", "serviceInterruption",
	"extendedRecovery", "falsePositive", "investigationSuspended",
	"resolved", "mitigatedExternal", "mitigated", "resolvedExternal", "confirmed",
	"reported", "unknownFutureValue",
}

// CanonicalIssueStatus returns a Service Health status in Graph's case
// ("ServiceRestored", "service restored", "Service Restored" ->
// "serviceRestored"); an unknown status is returned trimmed, as given.
func CanonicalIssueStatus(s string) string {
	s = strings.TrimSpace(s)
	key := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s))
	if key == "postincidentreportpublished" {
		key = "postincidentreviewpublished"
	}
	for _, st := range issueStatuses {
		if strings.ToLower(st) == key {
			return st
		}
	}
	return s
}

// resolvedStatuses are the statuses of an issue that is over.
var resolvedStatuses = []string{"serviceRestored", StatusPIRPublished, "falsePositive", "resolved", "resolvedExternal"}

// HasReport reports whether the issue's status says a post-incident review
// was published, so Graph's incidentReport should exist.
func (i *Incident) HasReport() bool { return i.Status == StatusPIRPublished }

// Deadline is the claim deadline counted from the incident's start
// (rules.Deadline), or zero while the start is unknown.
func (i *Incident) Deadline(azure bool) time.Time {
	if i.Start.IsZero() {
		return time.Time{}
	}
	return rules.Deadline(i.Start, azure)
}

// Downtime is the outage's length, End - Start; ok is false while either is
// unknown or End is not after Start.
func (i *Incident) Downtime() (d time.Duration, ok bool) {
	if i.Start.IsZero() || i.End.IsZero() || !i.End.After(i.Start) {
		return 0, false
	}
	return i.End.Sub(i.Start), true
}

// IneligibleAdvisory is why a claim is not eligible when Microsoft classes
// its issue an advisory, which earns no credit (Claim.IneligibleWhy).
const IneligibleAdvisory = "advisory"

// Eligible says what the classification decides: an advisory earns no
// credit (false, IneligibleAdvisory). An incident is eligible, and so is a
// missing or unknown classification (a value Microsoft adds later): only
// Microsoft's explicit "advisory" takes a claim out of the running, so a
// classification this version cannot read never hides a claim that may
// earn credit. Eligibility decides for a whole claim.
func (i *Incident) Eligible() (ok bool, why string) {
	if i.Classification == ClassificationAdvisory {
		return false, IneligibleAdvisory
	}
	return true, ""
}

// Best returns the most trusted of several fact sets on one incident: the
// highest Source.Rank, then the newest ReadAt, then the newest
// LastModified; the earliest given on a full tie. Facts are not mixed
// across sources, so what is shown keeps one provenance. Best of nothing
// is the zero Incident.
func Best(facts ...Incident) Incident {
	var best Incident
	for n, f := range facts {
		if n == 0 || better(&f, &best) {
			best = f
		}
	}
	return best
}

func better(a, b *Incident) bool {
	if ra, rb := a.Source.Rank(), b.Source.Rank(); ra != rb {
		return ra > rb
	}
	if !a.ReadAt.Equal(b.ReadAt) {
		return a.ReadAt.After(b.ReadAt)
	}
	return a.LastModified.After(b.LastModified)
}

// MaxIssueSize bounds one serviceHealthIssue object; real ones are a few
// kilobytes even with many posts.
const MaxIssueSize = 4 << 20

// MaxCatalogSize bounds an offline catalog file.
const MaxCatalogSize = 64 << 20

// graphIssue is a serviceHealthIssue as Graph sends it. encoding/json
// matches the names in any case and skips the fields not listed here; Raw
// keeps them.
type graphIssue struct {
	ID                   string      `json:"id"`
	Title                string      `json:"title"`
	Classification       string      `json:"classification"`
	Service              string      `json:"service"`
	Feature              string      `json:"feature"`
	FeatureGroup         string      `json:"featureGroup"`
	Status               string      `json:"status"`
	StartDateTime        string      `json:"startDateTime"`
	EndDateTime          string      `json:"endDateTime"`
	IsResolved           bool        `json:"isResolved"`
	ImpactDescription    string      `json:"impactDescription"`
	LastModifiedDateTime string      `json:"lastModifiedDateTime"`
	Posts                []graphPost `json:"posts"`
}

type graphPost struct {
	CreatedDateTime string `json:"createdDateTime"`
	PostType        string `json:"postType"`
	Description     struct {
		Content string `json:"content"`
	} `json:"description"`
}

// ParseGraphIssue reads one serviceHealthIssue object, as Graph's
// GET /admin/serviceAnnouncement/issues/{id} returns it. Unknown fields are
// kept in Raw and unknown enum values as given; enums may come in any case
// (ParseClassification, CanonicalIssueStatus); times may carry fractional
// seconds and a zone, or no zone, which Graph means as UTC (ParseGraphTime).
// The ID must be an incident ID (rules.ParseIncidentID) and is returned in
// canonical form. Source is SourceGraph; the caller sets ReadAt. Objects
// over MaxIssueSize are refused.
func ParseGraphIssue(data []byte) (Incident, error) {
	if len(data) > MaxIssueSize {
		return Incident{}, fmt.Errorf("service health issue: %d bytes, more than the %d an issue may have", len(data), MaxIssueSize)
	}
	data = bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	if len(data) == 0 || data[0] != '{' {
		return Incident{}, errors.New("service health issue: not a JSON object; want a serviceHealthIssue like {\"id\": \"EX1234567\", ...}")
	}
	var g graphIssue
	if err := json.Unmarshal(data, &g); err != nil {
		return Incident{}, fmt.Errorf("service health issue: %w", err)
	}
	if g.ID == "" {
		return Incident{}, errors.New("service health issue: no id; is this a serviceHealthIssue object?")
	}
	id, err := rules.ParseIncidentID(g.ID)
	if err != nil {
		return Incident{}, fmt.Errorf("service health issue: id: %w", err)
	}
	inc := Incident{
		ID:                id,
		Title:             strings.TrimSpace(g.Title),
		Classification:    ParseClassification(g.Classification),
		Service:           strings.TrimSpace(g.Service),
		Feature:           strings.TrimSpace(g.Feature),
		FeatureGroup:      strings.TrimSpace(g.FeatureGroup),
		Status:            CanonicalIssueStatus(g.Status),
		IsResolved:        g.IsResolved,
		ImpactDescription: strings.TrimSpace(g.ImpactDescription),
		Source:            SourceGraph,
	}
	times := []struct {
		name string
		in   string
		out  *time.Time
	}{
		{"startDateTime", g.StartDateTime, &inc.Start},
		{"endDateTime", g.EndDateTime, &inc.End},
		{"lastModifiedDateTime", g.LastModifiedDateTime, &inc.LastModified},
	}
	for _, t := range times {
		if *t.out, err = ParseGraphTime(t.in); err != nil {
			return Incident{}, fmt.Errorf("service health issue %s: %s: %w", id, t.name, err)
		}
	}
	for n, p := range g.Posts {
		created, err := ParseGraphTime(p.CreatedDateTime)
		if err != nil {
			return Incident{}, fmt.Errorf("service health issue %s: posts[%d].createdDateTime: %w", id, n, err)
		}
		inc.Posts = append(inc.Posts, Post{Created: created, Type: strings.TrimSpace(p.PostType), Description: p.Description.Content})
	}
	if inc.Raw, err = canonicalJSON(data); err != nil {
		return Incident{}, fmt.Errorf("service health issue %s: %w", id, err)
	}
	return inc, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// canonicalJSON compacts data the way encoding/json writes a RawMessage
// (HTML characters escaped), so an Incident re-marshals byte for byte.
func canonicalJSON(data []byte) (json.RawMessage, error) {
	var c, h bytes.Buffer
	if err := json.Compact(&c, data); err != nil {
		return nil, err
	}
	json.HTMLEscape(&h, c.Bytes())
	return h.Bytes(), nil
}

// graphTimeLayouts are the forms Graph writes a DateTimeOffset in:
// RFC 3339 with or without fractional seconds (any number of digits), and
// the same without a zone, meaning UTC.
var graphTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04"}

// ParseGraphTime reads a Graph DateTimeOffset ("2026-02-15T09:00:00Z",
// "2026-02-15T09:00:00.0000000Z", "2026-02-15T10:00:00+01:00", or
// "2026-02-15T09:00:00", which Graph means as UTC) and returns it in UTC.
// An empty string is the zero time, as Graph sends an ongoing issue's end.
func ParseGraphTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range graphTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return inRange(t, s)
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time like 2026-02-15T09:00:00Z", s)
}

// inRange returns t in UTC, refusing years JSON cannot write back.
func inRange(t time.Time, s string) (time.Time, error) {
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return t, nil
}

// CatalogProblem is an item of a catalog that was skipped, and why.
type CatalogProblem struct {
	Index int    // position in the catalog's array, from 0
	ID    string // the item's id as written, when it had one
	Err   error
}

func (p *CatalogProblem) Error() string {
	if p.ID != "" {
		return fmt.Sprintf("item %d (%s): %v", p.Index, p.ID, p.Err)
	}
	return fmt.Sprintf("item %d: %v", p.Index, p.Err)
}

func (p *CatalogProblem) Unwrap() error { return p.Err }

// ParseCatalog reads an offline catalog of Service Health issues: a Graph
// list response ({"value": [...]}, as saved from Graph Explorer or
// PowerShell) or a bare JSON array of serviceHealthIssue objects. Each item
// is read by ParseGraphIssue and marked SourceCatalog. An item that does
// not read is skipped and reported in problems (*CatalogProblem, with its
// index); so is a list page that names a next page (@odata.nextLink), whose
// other pages are missing. When an ID appears twice, the item with the
// later lastModifiedDateTime wins (the later in the file on a tie). The
// incidents come sorted by ID. err is set only when the file as a whole is
// not a catalog.
func ParseCatalog(data []byte) (incidents []Incident, problems []error, err error) {
	if len(data) > MaxCatalogSize {
		return nil, nil, fmt.Errorf("catalog: %d bytes, more than the %d a catalog may have", len(data), MaxCatalogSize)
	}
	data = bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	var items []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, nil, fmt.Errorf("catalog: %w", err)
		}
	case len(data) > 0 && data[0] == '{':
		var page struct {
			Value    *[]json.RawMessage `json:"value"`
			NextLink string             `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, nil, fmt.Errorf("catalog: %w", err)
		}
		if page.Value == nil {
			return nil, nil, errors.New(`catalog: an object without "value"; want a Graph list response {"value": [...]} or a JSON array of service health issues`)
		}
		items = *page.Value
		if page.NextLink != "" {
			problems = append(problems, errors.New("catalog: the list names a next page (@odata.nextLink) that is not in this file; save every page"))
		}
	default:
		return nil, nil, errors.New(`catalog: not JSON; want a Graph list response {"value": [...]} or a JSON array of service health issues`)
	}
	byID := map[string]int{}
	for n, item := range items {
		inc, err := ParseGraphIssue(item)
		if err != nil {
			problems = append(problems, &CatalogProblem{Index: n, ID: looseID(item), Err: err})
			continue
		}
		inc.Source = SourceCatalog
		if k, dup := byID[inc.ID]; dup {
			if !inc.LastModified.Before(incidents[k].LastModified) {
				incidents[k] = inc
			}
			continue
		}
		byID[inc.ID] = len(incidents)
		incidents = append(incidents, inc)
	}
	slices.SortFunc(incidents, func(a, b Incident) int { return strings.Compare(a.ID, b.ID) })
	return incidents, problems, nil
}

// looseID returns an item's id for a problem report, shortened, or "".
func looseID(item []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(item, &v) != nil {
		return ""
	}
	return oneLine(clip(v.ID, 40))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
