// Package web is the analysts' web app and JSON API: claims with their
// deadlines and checklists, the evidence behind them, the triage queue of
// rejected and unmatched mail, the tenant registry and the audit trail,
// and the incidents the claims are on, one page per incident.
//
// Pages are rendered on the server with html/template; the API under
// /api/v1/ does everything the pages do. Nothing is served to anonymous
// clients but the login page, its stylesheet and the health checks: users
// log in with a password (a session cookie) or present an API token.
// Mail is hostile input: it is only ever shown escaped, and attachments are
// only ever served as downloads.
package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"html/template"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// Ledger is what the web app needs of the ledger; *archive.Ledger has it.
// Every method is safe for concurrent use and returns errors wrapping
// archive.ErrNotFound for a missing claim, message or session.
type Ledger interface {
	// ClaimList returns one page of a claim list; a cursor it did not make
	// is an error wrapping archive.ErrBadCursor. ClaimTally counts what a
	// filter selects, ClaimCounts the claims by status; FileableIncidents
	// the incidents of the given tenants' claims still to be filed.
	ClaimList(ctx context.Context, q archive.ClaimQuery) (archive.ClaimPage, error)
	ClaimTally(ctx context.Context, f archive.ClaimFilter, now time.Time) (archive.ClaimTally, error)
	ClaimCounts(ctx context.Context) (map[claims.Status]int, error)
	// AllClaims yields every claim a query selects, a page at a time.
	AllClaims(ctx context.Context, q archive.ClaimQuery) iter.Seq2[archive.ClaimSummary, error]
	// IncidentList returns one page of the incidents claims exist for,
	// Incident one of them (archive.ErrNotFound when no claim exists for
	// it); WriteIncidentPackage streams the package of the one request
	// for its claims still to be filed.
	IncidentList(ctx context.Context, q archive.IncidentQuery) (archive.IncidentPage, error)
	Incident(ctx context.Context, incidentID string, now time.Time) (archive.IncidentSummary, error)
	WriteIncidentPackage(ctx context.Context, w io.Writer, incidentID string, bundles archive.BundleSource, actor string, now time.Time) error
	FileableIncidents(ctx context.Context, tenantIDs []string) (map[string][]string, error)
	Claim(ctx context.Context, id int64) (*claims.Claim, error)
	SetClaimField(ctx context.Context, claimID int64, field claims.Field, value, actor string) error
	SetClaimStatus(ctx context.Context, claimID int64, to claims.Status, by claims.Actor, note string) error
	ClaimFor(ctx context.Context, tenantID, incidentID string) (*claims.Claim, error)
	// IncidentHistory returns every reading of an incident's facts for a
	// tenant, the catalog's included, oldest first; read-only.
	IncidentHistory(ctx context.Context, tenantID, incidentID string) ([]archive.IncidentRecord, error)
	DetachEvidence(ctx context.Context, claimID int64, sha, actor, note string) error
	WriteClaimPackage(ctx context.Context, w io.Writer, claimID int64, bundles archive.BundleSource, actor string) error

	MessageBySHA256(ctx context.Context, sha string) (*archive.Message, error)
	Messages(ctx context.Context, f archive.MessageFilter) ([]*archive.Message, error)
	// MessageList returns one page of a message list; a cursor it did not
	// make is an error wrapping archive.ErrBadCursor.
	MessageList(ctx context.Context, q archive.MessageQuery) (archive.MessagePage, error)
	RematchCandidates(ctx context.Context, domains []string, registryBefore int64) ([]*archive.Message, error)
	MessageClaims(ctx context.Context, id int64) ([]archive.Attachment, error)
	MessageCounts(ctx context.Context) (map[rules.Verdict]int, error)
	Decisions(ctx context.Context, messageID int64) ([]archive.Decision, error)

	Tenants(ctx context.Context) ([]rules.Tenant, error)
	// SearchTenants returns the tenants a search selects, by ID.
	SearchTenants(ctx context.Context, s archive.Search) ([]rules.Tenant, error)
	// RegistryVersion is the tenant registry's version, which grows with
	// every change; Registry reads it with the tenants, consistently.
	RegistryVersion(ctx context.Context) (int64, error)
	Registry(ctx context.Context) (version int64, tenants []rules.Tenant, err error)
	ImportPartnerCenterCSV(ctx context.Context, r io.Reader, name string) (*archive.CSVImport, error)

	AppendAudit(ctx context.Context, actor string, action archive.Action, subject string, details map[string]any) (archive.AuditEntry, error)
	AuditHead(ctx context.Context) (archive.AuditEntry, error)
	ExportAudit(ctx context.Context, w io.Writer, format archive.AuditFormat, claimID int64) error
	AuditEntries(ctx context.Context, f archive.AuditFilter) ([]archive.AuditEntry, error)
	// VerifyAuditFrom verifies the audit chain after a checkpoint (the
	// zero one: the whole chain) against a reading of the store's anchors.
	VerifyAuditFrom(ctx context.Context, anchors *archive.StoreAnchors, from archive.AuditCheckpoint) (*archive.AuditReport, error)
	SchemaVersion(ctx context.Context) (int, error)

	Authenticate(ctx context.Context, name, password string) (archive.User, error)
	CreateSession(ctx context.Context, name string, now time.Time, ttl time.Duration) (string, archive.Session, error)
	Session(ctx context.Context, token string, now time.Time) (archive.Session, error)
	EndSession(ctx context.Context, token string) error
	APITokenUser(ctx context.Context, token string, now time.Time) (archive.User, archive.APIToken, error)

	// PutFlash keeps a form's results, JSON, for user until ttl after now
	// and returns the token that reads them (Flash), deleting the lapsed
	// ones and all but the keep newest; Flash returns them to that user
	// only, until they lapse, else archive.ErrNotFound. In the ledger, so
	// that any replica serves the page a redirect names.
	// TakeRateToken takes a token from a bucket of burst tokens that
	// regains one every interval, shared by the replicas on the ledger;
	// false, and how long until one is there, when it has none.
	// RateTokensUsed reads how many it lacks. The login limits use them.
	TakeRateToken(ctx context.Context, name string, burst int, every time.Duration, now time.Time) (bool, time.Duration, error)
	RateTokensUsed(ctx context.Context, name string, every time.Duration, now time.Time) (float64, error)

	PutFlash(ctx context.Context, user string, data []byte, now time.Time, ttl time.Duration, keep int) (string, error)
	Flash(ctx context.Context, user, token string, now time.Time) ([]byte, error)
}

// Store is what the web app needs of the object store; archive.Dir and
// archive.MinIO have it. Get's reader must be closed and fails at EOF
// when the bytes do not match their recorded SHA-256; a missing key is
// archive.ErrNotFound. Put is only used through VerifyAudit's anchor
// checks, which never write.
type Store interface {
	Get(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error)
	Stat(ctx context.Context, key string) (archive.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[archive.ObjectInfo, error]
	Put(ctx context.Context, key string, r io.Reader, size int64, opts archive.PutOptions) (archive.ObjectInfo, error)
}

// RejudgeFunc judges the stored message with the given raw SHA-256 again,
// from its evidence bundle, and when the judgment changes stores the next
// bundle (n+1) and records both in the ledger under actor, with the claims
// the judgment attaches to or detaches from. It is the path the CLI's
// reprocess takes too: ingest's Pipeline.Rejudge, behind a small adapter.
//
// policy is the policy to judge with. opts.Judgment, when not nil, is an
// analyst's judgment to record instead, and policy may then be nil. The
// same judgment as the ledger's writes nothing. A change to a message an
// analyst decided about by hand, without opts.Override or opts.ByAnalyst,
// writes nothing either: the Rejudgment says what would change and the
// error wraps archive.ErrDecided. A missing message is an error wrapping
// archive.ErrNotFound; a bundle that does not verify is refused with an
// error. Safe for concurrent use, and safe to repeat.
type RejudgeFunc func(ctx context.Context, policy *rules.Policy, sha, actor string, opts RejudgeOptions) (Rejudgment, error)

// RejudgeOptions say whose judgment a RejudgeFunc records and what it may
// replace, as ingest.RejudgeOptions do.
type RejudgeOptions struct {
	// Judgment is an analyst's judgment, taken instead of the policy's.
	Judgment *rules.Judgment
	// ByAnalyst: Judgment is an analyst's manual attach, whose links
	// become their decisions.
	ByAnalyst bool
	// Override replaces the analysts' earlier decisions about the
	// message; only a single re-judgment the analyst confirmed sets it.
	Override bool
}

// Rejudgment is what a RejudgeFunc did with one message.
type Rejudgment struct {
	Before rules.Judgment // the ledger's judgment before
	After  rules.Judgment // the judgment now, or the one refused
	// Changed says that After differs from Before and was recorded with
	// its own bundle, BundleKey (or would have been, when refused).
	Changed   bool
	BundleKey string // the key of the bundle showing After
	// Decisions are the analysts' decisions that refused the change.
	Decisions []archive.Decision
}

// Options configure the web app. Ledger and Store are required.
type Options struct {
	Ledger Ledger
	Store  Store
	// Logger receives request errors and security events; nil discards.
	Logger *slog.Logger
	// Rules is the rules section of the configuration. Re-judging builds a
	// policy from it and the ledger's tenant registry as it is at that
	// moment, so a CSV import takes effect without a restart.
	Rules rules.Config
	// Rejudge enables re-judging and attaching unmatched mail to an
	// incident on the triage page; nil disables both, and the page says
	// so.
	Rejudge RejudgeFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Config is the web section of the configuration.
	Config Config
	// Metrics is where /metrics reads from and the poller writes to; nil
	// makes a new one.
	Metrics *Metrics
}

// Server is the web app. It is an http.Handler; Handler returns it with
// its middleware.
type Server struct {
	ledger Ledger
	store  Store
	log    *slog.Logger
	rules  rules.Config
	// vocab is the rules configuration without tenants: the incident
	// prefixes and their services, as the poller knows them.
	vocab     *rules.Policy
	rejudgeFn RejudgeFunc
	now       func() time.Time
	cfg       Config
	metrics   *Metrics

	tmpl    map[string]*template.Template
	static  fs.FS
	routes  []route
	handler http.Handler

	proxies []netip.Prefix // web.trusted_proxies
	// The login limits, shared by the replicas on the ledger.
	loginIP     *sharedLimiter // attempts per address
	loginClient *sharedLimiter // attempts per user and address
	loginFails  *sharedLimiter // failures per user, for loginDelay
	// sleep waits out a login's delay; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	verifier *auditVerifier
}

// New builds the web app from opts.
func New(opts Options) (*Server, error) {
	if opts.Ledger == nil || opts.Store == nil {
		return nil, errors.New("web: new: Options.Ledger and Options.Store are required")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	s := &Server{
		ledger:    opts.Ledger,
		store:     opts.Store,
		log:       opts.Logger,
		rules:     opts.Rules,
		rejudgeFn: opts.Rejudge,
		now:       opts.Now,
		cfg:       opts.Config.WithDefaults(),
		metrics:   opts.Metrics,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.watch(opts.Ledger, s.now)
	vocab, err := rules.New(opts.Rules, nil)
	if err != nil {
		return nil, fmt.Errorf("web: new: the rules configuration: %w", err)
	}
	s.vocab = vocab
	s.proxies, _ = parseProxies(s.cfg.TrustedProxies) // checked by Validate
	s.loginIP = newSharedLimiter(s.ledger, "login-address", loginIPBurst, loginIPEvery, s.now, s.log)
	s.loginClient = newSharedLimiter(s.ledger, "login-client", loginClientBurst, loginClientEvery, s.now, s.log)
	s.loginFails = newSharedLimiter(s.ledger, "login-failures", loginFailMax, loginFailEvery, s.now, s.log)
	s.sleep = sleepCtx
	if s.tmpl, err = parseTemplates(); err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	if s.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.pattern(), s.wrap(rt))
	}
	s.handler = s.secure(mux)
	s.verifier = newAuditVerifier(s.ledger, s.store, s.now, s.log)
	s.verifier.start()
	return s, nil
}

// Close stops the app's background work: the audit trail's verification.
func (s *Server) Close() { s.verifier.close() }

// AuditVerified waits until the audit trail has been verified since the
// app started (in the background), or ctx ends.
func (s *Server) AuditVerified(ctx context.Context) error {
	for {
		s.verifier.mu.Lock()
		ok := s.verifier.st.verified
		s.verifier.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("web: wait for the audit verification: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Handler returns the app's handler, to mount on a server.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Metrics returns the app's metrics registry, for the poller to feed.
func (s *Server) Metrics() *Metrics { return s.metrics }

// access says who may call a route.
type access int

const (
	// accessPublic routes need no login: the login form, static files,
	// health.
	accessPublic access = iota
	// accessPage routes redirect anonymous browsers to the login page.
	accessPage
	// accessAPI routes answer anonymous clients 401 with a JSON error.
	accessAPI
)

// route is one entry of the registration table. Every handler of the app
// is registered from it, so the tests that walk it cover every route.
type route struct {
	method string // GET, POST, PATCH
	path   string // a net/http pattern path, e.g. /claims/{id}
	access access
	role   archive.Role // the least role allowed; unused for public
	h      func(w http.ResponseWriter, r *http.Request)
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// routeTable lists every route of the app.
func (s *Server) routeTable() []route {
	v, a, adm := archive.RoleViewer, archive.RoleAnalyst, archive.RoleAdmin
	return []route{
		{"GET", "/login", accessPublic, "", s.loginForm},
		{"POST", "/login", accessPublic, "", s.login},
		{"GET", "/static/{file}", accessPublic, "", s.staticFile},
		{"GET", "/healthz", accessPublic, "", s.healthz},
		{"GET", "/readyz", accessPublic, "", s.readyz},

		{"POST", "/logout", accessPage, v, s.logout},
		{"GET", "/{$}", accessPage, v, s.home},
		{"GET", "/claims", accessPage, v, s.claimsPage},
		{"GET", "/claims/{id}", accessPage, v, s.claimPage},
		{"POST", "/claims/{id}/fields", accessPage, a, s.claimFieldsForm},
		{"POST", "/claims/{id}/status", accessPage, a, s.claimStatusForm},
		{"POST", "/claims/{id}/evidence/{sha}/detach", accessPage, a, s.claimDetachForm},
		{"GET", "/claims/{id}/package", accessPage, v, s.claimPackage},
		{"GET", "/incidents", accessPage, v, s.incidentsPage},
		{"GET", "/incidents/{id}", accessPage, v, s.incidentPage},
		{"GET", "/incidents/{id}/package", accessPage, v, s.incidentPackage},
		{"GET", "/messages", accessPage, v, s.messagesPage},
		{"GET", "/messages/{sha}", accessPage, v, s.messagePage},
		{"GET", "/messages/{sha}/bundle", accessPage, v, s.bundleDownload},
		{"GET", "/messages/{sha}/attachments/{att}", accessPage, v, s.attachmentDownload},
		{"GET", "/triage", accessPage, v, s.triagePage},
		{"POST", "/triage/{sha}/attach", accessPage, a, s.triageAttachForm},
		{"POST", "/triage/{sha}/rejudge", accessPage, a, s.triageRejudgeForm},
		{"POST", "/triage/rejudge", accessPage, a, s.triageRejudgeAllForm},
		{"POST", "/triage/rematch", accessPage, a, s.triageRematchForm},
		{"GET", "/tenants", accessPage, v, s.tenantsPage},
		{"POST", "/tenants/import", accessPage, adm, s.tenantsImportForm},
		{"GET", "/audit", accessPage, v, s.auditPage},
		{"GET", "/search", accessPage, v, s.searchPage},
		{"GET", "/metrics", accessPage, v, s.metricsHandler},

		{"GET", "/api/v1/me", accessAPI, v, s.apiMe},
		{"GET", "/api/v1/claims", accessAPI, v, s.apiClaims},
		{"GET", "/api/v1/claims/{id}", accessAPI, v, s.apiClaim},
		{"PATCH", "/api/v1/claims/{id}", accessAPI, a, s.apiPatchClaim},
		{"POST", "/api/v1/claims/{id}/status", accessAPI, a, s.apiClaimStatus},
		{"POST", "/api/v1/claims/{id}/evidence/{sha}/detach", accessAPI, a, s.apiClaimDetach},
		{"GET", "/api/v1/claims/{id}/details", accessAPI, v, s.apiClaimDetails},
		{"GET", "/api/v1/claims/{id}/package", accessAPI, v, s.claimPackage},
		{"GET", "/api/v1/claims/{id}/audit", accessAPI, v, s.apiClaimAudit},
		{"GET", "/api/v1/incidents", accessAPI, v, s.apiIncidents},
		{"GET", "/api/v1/incidents/{id}", accessAPI, v, s.apiIncident},
		{"GET", "/api/v1/incidents/{id}/details", accessAPI, v, s.apiIncidentDetails},
		{"GET", "/api/v1/incidents/{id}/package", accessAPI, v, s.incidentPackage},
		{"GET", "/api/v1/messages", accessAPI, v, s.apiMessages},
		{"GET", "/api/v1/messages/{sha}", accessAPI, v, s.apiMessage},
		{"GET", "/api/v1/messages/{sha}/bundle", accessAPI, v, s.bundleDownload},
		{"GET", "/api/v1/messages/{sha}/attachments/{att}", accessAPI, v, s.attachmentDownload},
		{"GET", "/api/v1/triage", accessAPI, v, s.apiTriage},
		{"POST", "/api/v1/triage/{sha}/attach", accessAPI, a, s.apiTriageAttach},
		{"POST", "/api/v1/triage/{sha}/rejudge", accessAPI, a, s.apiTriageRejudge},
		{"POST", "/api/v1/triage/rejudge", accessAPI, a, s.apiTriageRejudgeAll},
		{"POST", "/api/v1/triage/rematch", accessAPI, a, s.apiTriageRematch},
		{"GET", "/api/v1/tenants", accessAPI, v, s.apiTenants},
		{"POST", "/api/v1/tenants/import", accessAPI, adm, s.apiTenantsImport},
		{"GET", "/api/v1/audit", accessAPI, v, s.apiAudit},
		{"GET", "/api/v1/search", accessAPI, v, s.apiSearch},
		{"GET", "/api/v1/audit/verify", accessAPI, v, s.apiAuditVerify},

		// Anything else: 404, but only after login, so that probing
		// for paths tells an anonymous client nothing.
		{"GET", "/", accessPage, v, s.notFound},
		{"POST", "/", accessPage, v, s.notFound},
		{"GET", "/api/", accessAPI, v, s.apiNotFound},
	}
}
