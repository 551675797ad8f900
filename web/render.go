package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// funcs are the template helpers. None returns template.HTML: everything
// a template prints is escaped, mail content above all.
var funcs = template.FuncMap{
	"when":         fmtWhen,
	"iso":          isoTime,
	"day":          func(t time.Time) string { return fmtDay(t) },
	"itemLabel":    itemLabel,
	"fieldHint":    fieldHint,
	"reason":       reasonText,
	"todo":         reasonTodo,
	"short":        func(s string) string { return shortHash(s) },
	"join":         strings.Join,
	"neg":          func(i int) int { return -i },
	"auditTime":    auditTime,
	"bytes":        fmtBytes,
	"fieldForm":    newFieldForm,
	"subjectURL":   subjectURL,
	"subjectShort": subjectShort,
}

// timeInput is what the claim page's time inputs show and take: claims'
// TimeLayout without its "UTC", which the input's label says.
const timeInput = "2006-01-02 15:04"

// fieldForm is what the form that sets one claim field needs.
type fieldForm struct {
	ClaimID int64
	CSRF    string
	Field   string
	Input   string
	Label   string
	Value   string
}

// newFieldForm prefills the form with the value the user just sent when
// it was refused (formField names its field), else the current value.
func newFieldForm(claimID int64, csrf string, it itemView, formField, formValue string) fieldForm {
	f := fieldForm{ClaimID: claimID, CSRF: csrf, Field: it.Field, Input: it.Input, Label: itemLabel(it.Item), Value: it.Value}
	if formField != "" && formField == it.Field {
		f.Value = formValue
	}
	if f.Input == "datetime" {
		// The text input takes "2026-02-15 17:05", 24-hour and UTC
		// (claims.ParseTime): no browser locale turns it into 5:05 PM.
		if t, err := time.Parse(time.RFC3339, f.Value); err == nil {
			f.Value = t.UTC().Format(timeInput)
		}
	}
	return f
}

// subjectURL links an audit subject to its page; "" when it has none.
func subjectURL(subject string) string {
	kind, id, _ := strings.Cut(subject, ":")
	switch kind {
	case "claim":
		if _, err := strconv.ParseInt(id, 10, 64); err == nil {
			return "/claims/" + id
		}
	case "incident":
		if inc, err := rules.ParseIncidentID(id); err == nil && inc == id {
			return "/incidents/" + id
		}
	case "message":
		if len(id) == 64 && strings.Trim(id, "0123456789abcdef") == "" {
			return "/messages/" + id
		}
	}
	return ""
}

// subjectShort abbreviates the hash in a message subject.
func subjectShort(subject string) string {
	if sha, ok := strings.CutPrefix(subject, "message:"); ok && len(sha) > 12 {
		return "message:" + sha[:12] + "…"
	}
	return subject
}

// parseTemplates parses each page with the layout, by page name.
func parseTemplates() (map[string]*template.Template, error) {
	layout, err := templateFS.ReadFile("templates/layout.html")
	if err != nil {
		return nil, err
	}
	partials, err := templateFS.ReadFile("templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		body, err := templateFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err == nil {
			_, err = t.Parse(string(partials))
		}
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page0 is what the layout needs of every page.
type page0 struct {
	Title string
	Nav   string // which menu entry is current
	User  *archive.User
	CSRF  string
	// Notice is a line confirming what the previous request did.
	Notice string
	Error  string
	// Query is the text of the header's search box: the search the page
	// shows, if any.
	Query string
}

// can reports whether the page's user has role; templates use it to show
// only the forms the user may submit (the server checks again).
func (p page0) Can(role string) bool {
	return p.User != nil && p.User.Role.Allows(archive.Role(role))
}

// view is what a page template executes with.
type view struct {
	Page page0
	Data any
}

// notices are the confirmations a redirect may ask for (?done=...): fixed
// texts, so that a link cannot put words of its own on the page.
var notices = map[string]string{
	"field":    "Saved.",
	"status":   "Status changed.",
	"attached": "Attached to the claim.",
	"detached": "Detached from the claim; no re-judgment attaches it again unless you override your decision.",
	"rejudged": "Judged again with the current tenant registry.",
	"imported": "Tenant registry imported.",
}

// render executes the named page template with data and writes it with
// status. It renders to a buffer first, so a template error is a clean 500
// rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page0, data any) {
	t, ok := s.tmpl[name]
	if !ok {
		s.internal(w, r, fmt.Errorf("no template %q", name))
		return
	}
	if id := who(r); id != nil {
		u := id.user
		p.User, p.CSRF = &u, id.csrf()
	}
	if p.Notice == "" {
		p.Notice = notices[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", view{Page: p, Data: data}); err != nil {
		s.internal(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail answers with an error: JSON for the API, a page otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) {
		s.apiError(w, status, msg)
		return
	}
	if _, ok := s.tmpl["error"]; !ok {
		http.Error(w, msg, status)
		return
	}
	s.render(w, r, status, "error", page0{Title: http.StatusText(status), Error: msg}, nil)
}

// internal logs err and answers 500 without its details, which may name
// files and keys.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, archive.ErrUnavailable) {
		s.log.Error("web: storage unavailable", "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "the ledger or the object store is unavailable; try again in a minute, and tell an admin if it persists")
		return
	}
	s.log.Error("web: internal error", "method", r.Method, "path", r.URL.Path, "user", actor(r), "err", err)
	s.fail(w, r, http.StatusInternalServerError, "something went wrong on the server; it was logged. Tell an admin what you were doing.")
}

// requestFailed answers for a failed request about a what ("claim"):
// 400 with the text of a userError, 404 for ErrNotFound, else internal.
func (s *Server) requestFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	var ue *userError
	switch {
	case errors.As(err, &ue):
		s.fail(w, r, http.StatusBadRequest, ue.msg)
	case errors.Is(err, archive.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, "no such "+what)
	default:
		s.internal(w, r, err)
	}
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func (s *Server) apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error": "could not encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readJSON decodes a JSON request body of at most maxFormBytes into v,
// refusing unknown fields so a typo is not silently ignored.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the body is not the JSON this call takes: %w", err)
	}
	return nil
}

// readOptionalJSON is readJSON for a body that may be empty: then v keeps
// its zero value.
func readOptionalJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxFormBytes))
	if err != nil {
		return fmt.Errorf("the body could not be read: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the body is not the JSON this call takes: %w", err)
	}
	return nil
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusNotFound, "there is no such page")
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.apiError(w, http.StatusNotFound, "no such API call; see the API section of README.md")
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/claims", http.StatusSeeOther)
}

// staticFile serves the embedded stylesheet and script. They are public
// (the login page needs the stylesheet) and hold no data.
func (s *Server) staticFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(s.static, name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}

// fmtWhen shows a moment as people read it everywhere (claims.FormatTime);
// pages put the exact time in a <time datetime> beside it (isoTime).
func fmtWhen(t time.Time) string { return claims.FormatTime(t) }

// isoTime is t for a datetime attribute: RFC 3339 to the second, UTC; ""
// for the zero time.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// auditTime shows an audit entry's stored time as every time is shown; the
// page keeps the stored one, to the nanosecond, in the datetime attribute.
func auditTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return claims.FormatTime(t)
}

func fmtDay(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02")
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func shortHash(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
