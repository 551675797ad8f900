package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/web"
)

const demoUsage = `usage: claimtrail demo [--listen ADDR] [--keep]

Shows claimtrail working end to end with nothing to install: it starts an
IMAP server inside the process, holding a shared partner mailbox seeded
with customer emails, and a fake Microsoft Graph Service Health API, runs
the real poller on the mailbox and reads the claims' incidents from the
fake Graph into a directory store and a SQLite ledger in a temporary
directory, creates a demo user and serves the web app. It prints the
address, the credentials and what to look at. Stop it with
Ctrl-C; the temporary directory is removed unless --keep is given.

flags:
`

// demoFS holds the demo's mailbox and configuration: a selection of the
// corpus in testdata/mail, and its tenant registry.
//
//go:embed demo/*.eml demo/config.yaml
var demoFS embed.FS

// The demo mailbox's account and the demo's web user.
const (
	demoMailbox = "sla-claims@adatum-csp.com"
	demoUser    = "demo"
)

func runDemo(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "demo", demoUsage)
	listen := fs.String("listen", web.DefaultListen, "serve the web app on this `address`")
	keep := fs.Bool("keep", false, "keep the temporary directory (ledger, bundles) after stopping")
	verbose := fs.Bool("v", false, "log what the poller does")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		e.errorf("demo: unexpected argument %q; see claimtrail demo -h", fs.Arg(0))
		return exitUsage
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	dir, err := os.MkdirTemp("", "claimtrail-demo-")
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	if *keep {
		defer fmt.Fprintf(e.stdout, "The demo's ledger and bundles are kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	// Bind the web app's address first: a busy port is the likeliest
	// failure, and the user should hear of it before anything starts.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		e.errorf("demo: %v; choose another address with --listen 127.0.0.1:PORT", err)
		return exitFail
	}
	defer ln.Close()

	mailPassword, webPassword := randomSecret(), randomSecret()
	imapAddr, stopIMAP, err := startDemoIMAP(mailPassword, time.Now())
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	defer stopIMAP()

	graph, err := startDemoGraph(time.Now())
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	defer graph.Close()

	cfg, err := demoConfig(dir, imapAddr, mailPassword, demoGraphSection(graph))
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	st, err := openState(ctx, cfg, log)
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	defer st.close()
	hash, err := archive.HashPassword(webPassword)
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	if _, err := st.ledger.AddUser(ctx, demoUser, archive.RoleAdmin, hash, "cli:demo"); err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}

	gc, err := graphClient(cfg)
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	syncer := newSyncer(cfg, st, gc, log)
	metrics := web.NewMetrics()
	counts := &verdictCounts{}
	pipe := ingest.NewPipeline(st.policy, st.store, st.ledger, &ingest.PipelineOptions{
		Logger: log, Observer: observers{metrics, counts}, Incidents: syncer,
	})
	src, err := ingest.NewIMAPSource(cfg.Mailboxes[0], pipe, &ingest.IMAPOptions{Logger: log, Workers: 2, SpoolDir: dir})
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	// The first pass before the app opens, so the pages have claims.
	if err := src.RunOnce(ctx, pipe); err != nil {
		e.errorf("demo: the poller failed on the demo mailbox: %v", err)
		return exitFail
	}
	// Then Microsoft's record of the claims' incidents, as run does.
	if _, err := syncer.SyncAll(ctx); err != nil {
		e.errorf("demo: reading Service Health from the demo's Graph: %v", err)
		return exitFail
	}
	// Claims in every state, on the demo's clock.
	shift := demoClock(time.Now()).Sub(time.Now()).Round(time.Minute)
	if err := seedDemoStates(ctx, st.ledger, time.Now().Add(shift), demoUser); err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	app, err := web.New(web.Options{Ledger: st.ledger, Store: st.store, Logger: log, Rules: cfg.Rules,
		Rejudge: webRejudge(pipe), Config: cfg.Web.WithDefaults(), Metrics: metrics,
		Now: func() time.Time { return time.Now().Add(shift) }})
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(e.stdout, `claimtrail demo
  mailbox   %s on imap://%s (in this process), %s
  graph     %s (a fake Microsoft Graph Service Health, in this process)
  data      %s
  web app   %s
  log in    user %q, password %q
%s
Service Health, from another terminal while the demo runs:
  claimtrail incidents --config %s list
%s
Press Ctrl-C to stop.
`, demoMailbox, imapAddr, counts, graph.URL, dir, url, demoUser, webPassword, demoClockNote(shift), cfg.file, demoLookAt(ctx, st, cfg.file))

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	polled := make(chan error, 1)
	go func() { polled <- src.Run(runCtx, pipe) }()
	err = serveHTTP(runCtx, ln, app.Handler(), log)
	stop()
	if perr := <-polled; perr != nil {
		log.Error("poller", "err", perr)
	}
	if aerr := anchorOnce(context.WithoutCancel(ctx), st); aerr != nil {
		log.Error("audit trail not anchored", "err", aerr)
	}
	if err != nil {
		e.errorf("demo: %v", err)
		return exitFail
	}
	return exitOK
}

// demoConfig is the embedded configuration with the demo's mailbox, store
// and ledger added.
func demoConfig(dir, imapAddr, password, extra string) (*Config, error) {
	base, err := demoFS.ReadFile("demo/config.yaml")
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(imapAddr)
	if err != nil {
		return nil, err
	}
	text := string(base) + fmt.Sprintf(`
mailboxes:
  - name: shared
    host: %s
    port: %s
    security: insecure
    username: %s
    password: %q
archive:
  store: dir
  dir: %q
ledger:
  path: %q
dkim:
  verify: false
`, host, port, demoMailbox, password, filepath.Join(dir, "objects"), filepath.Join(dir, "claimtrail.db")) + extra
	path := filepath.Join(dir, "claimtrail.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return loadConfig(path)
}

// startDemoIMAP serves an in-memory IMAP mailbox on a free loopback port,
// seeded with the demo mail received over the three weeks before now. It
// returns the address and a function that stops the server.
func startDemoIMAP(password string, now time.Time) (string, func(), error) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(demoMailbox, password)
	if err := user.Create("INBOX", nil); err != nil {
		return "", nil, err
	}
	mem.AddUser(user)
	names, err := demoMessages()
	if err != nil {
		return "", nil, err
	}
	for i, name := range names {
		raw, err := demoFS.ReadFile(name)
		if err != nil {
			return "", nil, err
		}
		// Spread over the last three weeks, oldest first, so the claims'
		// deadlines are live whatever day the demo runs.
		received := now.Add(-time.Duration(len(names)-i) * 31 * time.Hour).Truncate(time.Second)
		raw = redate(raw, received)
		if _, err := user.Append("INBOX", literal{bytes.NewReader(raw)}, &imap.AppendOptions{Time: received}); err != nil {
			return "", nil, fmt.Errorf("seed the demo mailbox with %s: %w", path.Base(name), err)
		}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true, // loopback only, inside this process
		Logger:       quietIMAPLog{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// demoMessages lists the embedded demo mail, sorted.
func demoMessages() ([]string, error) {
	entries, err := demoFS.ReadDir("demo")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			names = append(names, "demo/"+e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// redate replaces the Date header of the message's own header block (not
// those of attached originals) with t.
func redate(raw []byte, t time.Time) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		return raw
	}
	head := raw[:end]
	i := bytes.Index(head, []byte("\r\nDate: "))
	if i < 0 {
		return raw
	}
	j := bytes.Index(head[i+2:], []byte("\r\n"))
	if j < 0 {
		j = len(head) - i - 2
	}
	var out bytes.Buffer
	out.Write(raw[:i+2])
	out.WriteString("Date: " + t.Format(time.RFC1123Z))
	out.Write(raw[i+2+j:])
	return out.Bytes()
}

// literal is an imap.LiteralReader over bytes.
type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

// quietIMAPLog drops the in-process server's connection noise.
type quietIMAPLog struct{}

func (quietIMAPLog) Printf(string, ...any) {}

// randomSecret is a password nobody guesses (26 base32 characters).
func randomSecret() string { return rand.Text() }
