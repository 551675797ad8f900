package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/web"
)

const serveUsage = `usage: claimtrail serve --config FILE [--listen ADDR]

Serves the analysts' web app and its JSON API, without polling mail (run
does both). Log in with a user made by 'claimtrail users add'. Stops
cleanly on SIGINT/SIGTERM. The configuration's web: section sets listen,
base_url, secure_cookies, session_ttl, trusted_proxies and token_ttl (the
default lifetime of new API tokens); its ledger: and archive: sections
name the ledger and the evidence store.

flags:
`

// HTTP server limits: slow clients cannot hold connections open for long,
// but a download of a large claim package has time to finish.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = 10 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 15 * time.Second
)

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "serve", serveUsage)
	configPath := fs.String("config", "", "the configuration `file`")
	listen := fs.String("listen", "", "the `address` to listen on; overrides web.listen (default "+web.DefaultListen+")")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		e.errorf("serve: unexpected argument %q; see claimtrail serve -h", fs.Arg(0))
		return exitUsage
	}
	if *configPath == "" {
		e.errorf("serve: --config is missing; name the configuration file, e.g. --config testdata/config.yaml")
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	if _, err := cfg.Policy(); err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	webCfg := cfg.Web
	if *listen != "" {
		webCfg.Listen = *listen
	}
	if err := webCfg.Validate(); err != nil {
		e.errorf("serve: --listen %s: %v", *listen, err)
		return exitUsage
	}
	webCfg = webCfg.WithDefaults()
	log := slog.New(slog.NewTextHandler(e.stderr, nil))

	// openState brings the tenant registry in line with the
	// configuration, as the poller does, so the pages show the tenants
	// even before it has run.
	st, err := openState(ctx, cfg, log)
	if err != nil {
		e.errorf("serve: %v", err)
		return exitFail
	}
	defer st.close()
	if n, err := st.ledger.UserCount(ctx); err != nil {
		e.errorf("serve: %v", err)
		return exitFail
	} else if n == 0 {
		e.errorf("serve: %s has no users, so nobody could log in; add one first: claimtrail users --config %s add NAME --role admin", st.ledger.Path(), *configPath)
		return exitUsage
	}

	pipe := ingest.NewPipeline(st.policy, st.store, st.ledger, &ingest.PipelineOptions{Logger: log})
	app, err := web.New(web.Options{Ledger: st.ledger, Store: st.store, Logger: log, Rules: cfg.Rules, Rejudge: webRejudge(pipe), Config: webCfg})
	if err != nil {
		e.errorf("serve: %v", err)
		return exitFail
	}
	defer app.Close() // stops the audit trail's background verification
	ln, err := net.Listen("tcp", webCfg.Listen)
	if err != nil {
		e.errorf("serve: %v; choose another address with --listen", err)
		return exitFail
	}
	if err := serveHTTP(ctx, ln, app.Handler(), log); err != nil {
		e.errorf("serve: %v", err)
		return exitFail
	}
	return exitOK
}

// serveHTTP serves h on ln until ctx ends, then lets requests in flight
// finish for up to shutdownTimeout.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("web app listening", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info("web app stopped")
	return err
}
