package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPOptions tunes the IMAP source. A nil *IMAPOptions, like every zero
// field, means the defaults.
type IMAPOptions struct {
	Logger *slog.Logger // default slog.Default()
	// SpoolDir holds fetched messages until the handler has them; default
	// os.TempDir().
	SpoolDir string
	// TokenSource supplies XOAUTH2 tokens; default a ClientCredentials
	// source built from the mailbox's oauth settings, using HTTPClient.
	TokenSource TokenSource
	HTTPClient  *http.Client
	// BatchSize is the number of messages per UID FETCH; default 100.
	BatchSize int
	// Workers is how many messages are processed at once; default 1.
	// Fetching stays on the one connection; per-folder order is kept for
	// the checkpoint and the moves whatever the number.
	Workers int
	// ChunkSize is how many messages a pass fetches before it moves the
	// handled ones and saves the checkpoint; default 1000. A crash costs
	// at most this many re-offers, each answered from the ledger.
	ChunkSize int
	// BatchBytes caps the bytes spooled per body fetch; default 64 MiB (a
	// single larger message is still fetched alone).
	BatchBytes int64
	// MemoryBytes: messages up to this size are held in memory
	// (Message.Data) instead of a spool file, which costs a create, a
	// write, reads and an unlink each. 0, the default, spools every
	// message. A fetch holds at most BatchBytes, and an IMAPSource's
	// messages waiting for its workers as many again.
	MemoryBytes int64
	// CommandTimeout is how long the server may stay silent during a
	// command before the connection is given up; default 1m.
	CommandTimeout time.Duration
	// IdleRestart is the longest IDLE before it is stopped, the connection
	// checked with NOOP and IDLE issued again; default 9m, below the 10
	// minutes after which NAT gateways commonly drop silent connections.
	IdleRestart time.Duration
	// Backoff paces reconnection attempts; default NewBackoff(1s, 5m).
	Backoff *Backoff
	// ProcessBackoff paces the retries after the processor failed (the
	// store or the ledger unavailable) while the server was fine; default
	// NewBackoff(1s, 30s). Its cap is lower than Backoff's because such a
	// retry asks the server for one message only (see IMAPSource), and a
	// store that is back should not wait minutes for the backlog to move.
	ProcessBackoff *Backoff
	// Leases, when set, makes an IMAPSource poll a folder only while it
	// holds the folder's lease, for several replicas on one ledger; nil
	// polls every folder.
	Leases *LeaseOptions
}

func (o *IMAPOptions) withDefaults() IMAPOptions {
	var r IMAPOptions
	if o != nil {
		r = *o
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.SpoolDir == "" {
		r.SpoolDir = os.TempDir()
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 100
	}
	if r.Workers <= 0 {
		r.Workers = 1
	}
	if r.ChunkSize <= 0 {
		r.ChunkSize = 1000
	}
	if r.BatchBytes <= 0 {
		r.BatchBytes = 64 << 20
	}
	if r.CommandTimeout <= 0 {
		r.CommandTimeout = time.Minute
	}
	if r.IdleRestart <= 0 {
		r.IdleRestart = 9 * time.Minute
	}
	if r.Backoff == nil {
		r.Backoff = NewBackoff(time.Second, 5*time.Minute)
	}
	if r.ProcessBackoff == nil {
		r.ProcessBackoff = NewBackoff(time.Second, 30*time.Second)
	}
	return r
}

// doneKeyword marks a message copied to its destination on a server that
// cannot expunge single messages (no UIDPLUS); such messages stay in place
// and are never fetched again.
const doneKeyword = imap.Flag("$ClaimtrailDone")

// FolderStatus is what selecting a folder tells.
type FolderStatus struct {
	Folder      string
	UIDValidity uint32
	UIDNext     uint32 // 0 when the server did not say
	Messages    uint32
}

// IMAPConn is one logged-in IMAP connection to a mailbox. It is not safe
// for concurrent use. After any error other than a refused command the
// connection is closed; build a new one with DialIMAP (IMAPSource does).
type IMAPConn struct {
	cfg  MailboxConfig
	opts IMAPOptions
	log  *slog.Logger

	c    *imapclient.Client
	caps imap.CapSet

	// exists is signalled by the reader goroutine when the server reports
	// a new message count; buffered so the reader never blocks.
	exists chan struct{}

	selected string
	status   FolderStatus
	created  map[string]bool // destination folders known to exist

	closeOnce sync.Once
}

// DialIMAP connects to the mailbox described by cfg (which gets its
// defaults and is validated here), protects the connection as cfg.Security
// says, and logs in.
func DialIMAP(ctx context.Context, cfg MailboxConfig, opts *IMAPOptions) (*IMAPConn, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, permanent(fmt.Errorf("ingest: %w", err))
	}
	o := opts.withDefaults()
	if cfg.Auth == AuthXOAuth2 && o.TokenSource == nil {
		o.TokenSource = NewClientCredentials(cfg, o.HTTPClient)
	}
	conn := &IMAPConn{
		cfg:     cfg,
		opts:    o,
		log:     o.Logger.With("mailbox", cfg.Name),
		exists:  make(chan struct{}, 1),
		created: map[string]bool{},
	}
	if err := conn.dial(ctx); err != nil {
		return nil, fmt.Errorf("ingest: mailbox %q: connect to %s: %w", cfg.Name, conn.addr(), err)
	}
	if err := conn.login(ctx); err != nil {
		conn.c.Close()
		return nil, fmt.Errorf("ingest: mailbox %q: login: %w", cfg.Name, err)
	}
	conn.log.Debug("imap logged in", "addr", conn.addr(), "idle", conn.caps.Has(imap.CapIdle),
		"move", conn.caps.Has(imap.CapMove), "uidplus", conn.caps.Has(imap.CapUIDPlus))
	return conn, nil
}

func (c *IMAPConn) addr() string {
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
}

func (c *IMAPConn) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.cfg.Host, MinVersion: tls.VersionTLS12}
	if c.cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(c.cfg.TLSCAFile)
		if err != nil {
			return nil, permanent(fmt.Errorf("tls_ca_file: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, permanent(fmt.Errorf("tls_ca_file: %s holds no PEM certificate", c.cfg.TLSCAFile))
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func (c *IMAPConn) dial(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	defer cancel()
	nd := &net.Dialer{KeepAlive: 30 * time.Second}
	options := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case c.exists <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	var err error
	switch c.cfg.Security {
	case SecurityTLS:
		var tc *tls.Config
		if tc, err = c.tlsConfig(); err != nil {
			return err
		}
		tc.NextProtos = []string{"imap"}
		var nc net.Conn
		if nc, err = (&tls.Dialer{NetDialer: nd, Config: tc}).DialContext(dctx, "tcp", c.addr()); err != nil {
			return classify(err)
		}
		c.c = imapclient.New(nc, options)
	case SecurityStartTLS:
		if options.TLSConfig, err = c.tlsConfig(); err != nil {
			return err
		}
		var nc net.Conn
		if nc, err = nd.DialContext(dctx, "tcp", c.addr()); err != nil {
			return classify(err)
		}
		// NewStartTLS reads the greeting and upgrades before returning;
		// closing the socket is the only way to bound that wait.
		stop := context.AfterFunc(dctx, func() { nc.Close() })
		c.c, err = imapclient.NewStartTLS(nc, options)
		stop()
		if err != nil {
			nc.Close()
			var ie *imap.Error
			switch {
			case dctx.Err() != nil && ctx.Err() == nil:
				err = errTimeout
			case errors.As(err, &ie):
				return permanent(fmt.Errorf("the server refuses STARTTLS (use security: tls, or check the port): %w", err))
			}
			return classify(fmt.Errorf("STARTTLS: %w", err))
		}
	default: // SecurityInsecure; Validate admits nothing else
		if !isLoopback(c.cfg.Host) {
			c.log.Warn("imap connection is not encrypted: password and mail travel in clear text", "host", c.cfg.Host)
		}
		var nc net.Conn
		if nc, err = nd.DialContext(dctx, "tcp", c.addr()); err != nil {
			return classify(err)
		}
		c.c = imapclient.New(nc, options)
	}
	g := c.guard(ctx)
	err = c.c.WaitGreeting()
	if err = g.done(err); err != nil {
		c.c.Close()
		return classify(fmt.Errorf("greeting: %w", err))
	}
	return nil
}

func (c *IMAPConn) login(ctx context.Context) error {
	if c.cfg.Auth == AuthXOAuth2 {
		return c.loginXOAuth2(ctx)
	}
	if c.caps = c.c.Caps(); c.caps.Has(imap.CapLoginDisabled) {
		return permanent(fmt.Errorf("the server refuses LOGIN on this connection; set security: tls or starttls for mailbox %q", c.cfg.Name))
	}
	g := c.guard(ctx)
	err := c.c.Login(c.cfg.Username, c.cfg.Password.Reveal()).Wait()
	if err = g.done(err); err != nil {
		return classifyLogin(c.cfg.Name, err)
	}
	return c.afterLogin(ctx)
}

func (c *IMAPConn) loginXOAuth2(ctx context.Context) error {
	if !c.c.Caps().Has(imap.AuthCap("XOAUTH2")) {
		return permanent(fmt.Errorf("the server does not offer AUTH=XOAUTH2; use auth: password for mailbox %q", c.cfg.Name))
	}
	// A cached token can be revoked early; one refused token earns one
	// fresh one before the credentials are called bad.
	for attempt := 0; ; attempt++ {
		tok, err := c.opts.TokenSource.Token(ctx)
		if err != nil {
			return err
		}
		sc := &xoauth2{user: c.cfg.Username, token: tok}
		g := c.guard(ctx)
		err = c.c.Authenticate(sc)
		if err = g.done(err); err == nil {
			return c.afterLogin(ctx)
		}
		if len(sc.failure) > 0 {
			// The error challenge means the token was refused, whatever
			// follows: go-imap answers it with "=", which Dovecot calls
			// BAD base64 rather than saying NO.
			err = badCredentials(fmt.Errorf("check username/password for mailbox %q: %w (%s)", c.cfg.Name, err, describeXOAuth2Failure(sc.failure)))
		} else {
			err = classifyLogin(c.cfg.Name, err)
		}
		if !errors.Is(err, ErrBadCredentials) {
			return err
		}
		c.opts.TokenSource.Invalidate()
		if attempt == 1 {
			return badCredentials(fmt.Errorf("the token was refused; check that the app registration has IMAP.AccessAsApp and a mailbox permission for %q (Add-MailboxPermission), and the oauth settings of mailbox %q: %w", c.cfg.Username, c.cfg.Name, err))
		}
	}
}

func (c *IMAPConn) afterLogin(ctx context.Context) error {
	// Servers change their capabilities at login; go-imap then asks again.
	g := c.guard(ctx)
	caps, err := c.c.Capability().Wait()
	if err = g.done(err); err != nil {
		return classify(fmt.Errorf("capability: %w", err))
	}
	c.caps = caps
	return nil
}

// Capable reports whether the server announced capability name (e.g.
// "IDLE", "MOVE", "UIDPLUS") after login.
func (c *IMAPConn) Capable(name string) bool { return c.caps.Has(imap.Cap(name)) }

// Close logs out politely when it can and closes the connection.
func (c *IMAPConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		select {
		case <-c.c.Closed():
		default:
			done := make(chan error, 1)
			go func() { done <- c.c.Logout().Wait() }()
			t := time.NewTimer(5 * time.Second)
			select {
			case <-done:
			case <-t.C:
			}
			t.Stop()
		}
		if cerr := c.c.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	})
	return err
}

// Select opens folder (when it is not open already) and returns its status.
func (c *IMAPConn) Select(ctx context.Context, folder string) (FolderStatus, error) {
	if c.selected == folder {
		// The cached counts may be stale; UIDVALIDITY cannot change under
		// an open folder without the server closing it (RFC 3501 2.3.1.1).
		return c.status, nil
	}
	g := c.guard(ctx)
	data, err := c.c.Select(folder, nil).Wait()
	if err = g.done(err); err != nil {
		c.selected = ""
		var ie *imap.Error
		// Dovecot 2.3 says "NO Mailbox doesn't exist: X" without the
		// NONEXISTENT code; a missing folder is a configuration error.
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && ie.Code == "" && strings.Contains(strings.ToLower(ie.Text), "exist") {
			err = permanent(fmt.Errorf("the folder does not exist (check folders in the configuration): %w", err))
		}
		return FolderStatus{}, c.wrap("select "+folder, err)
	}
	if data.UIDValidity == 0 {
		return FolderStatus{}, permanent(fmt.Errorf("ingest: mailbox %q: select %s: the server reports no UIDVALIDITY; it cannot be polled reliably", c.cfg.Name, folder))
	}
	c.selected = folder
	c.status = FolderStatus{Folder: folder, UIDValidity: data.UIDValidity, UIDNext: uint32(data.UIDNext), Messages: data.NumMessages}
	return c.status, nil
}

// Noop sends NOOP: a liveness check that also collects pending updates.
func (c *IMAPConn) Noop(ctx context.Context) error {
	g := c.guard(ctx)
	err := c.c.Noop().Wait()
	return c.wrap("noop", g.done(err))
}

func (c *IMAPConn) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ingest: mailbox %q: %s: %w", c.cfg.Name, op, classify(err))
}

// guard bounds one exchange with the server: when ctx ends, or the server
// stays silent for CommandTimeout since the last kick, it closes the
// connection, which fails the pending command. go-imap itself waits for a
// response without any deadline.
type guard struct {
	ctx      context.Context
	d        time.Duration
	t        *time.Timer
	stopCtx  func() bool
	timedOut atomic.Bool
}

func (c *IMAPConn) guard(ctx context.Context) *guard {
	g := &guard{ctx: ctx, d: c.opts.CommandTimeout}
	g.t = time.AfterFunc(g.d, func() {
		g.timedOut.Store(true)
		c.c.Close()
	})
	g.stopCtx = context.AfterFunc(ctx, func() { c.c.Close() })
	return g
}

// kick records progress and restarts the silence timer.
func (g *guard) kick() { g.t.Reset(g.d) }

// done stops the guard and returns the error to report: the context's or
// the timeout's when they caused err.
func (g *guard) done(err error) error {
	g.t.Stop()
	g.stopCtx()
	if err == nil {
		return nil
	}
	if cerr := g.ctx.Err(); cerr != nil {
		return cerr
	}
	if g.timedOut.Load() {
		return fmt.Errorf("%w (%s): %v", errTimeout, g.d, err)
	}
	return err
}
