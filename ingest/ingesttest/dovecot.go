// Package ingesttest starts private Dovecot IMAP servers for tests: one per
// test, on 127.0.0.1 with random ports and passwords, a throw-away
// configuration and Maildir in a temporary directory, plus helpers to put
// mail in and look at it from a second client.
package ingesttest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/claimtrail/claimtrail/ingest"
)

// DefaultUser is the account StartDovecot creates when given none.
const DefaultUser = "claims@partner.test"

// Options configure StartDovecotWith.
type Options struct {
	// Users are the accounts to create; default [DefaultUser].
	Users []string
	// IMAPCapability, when set, replaces the capability list Dovecot
	// announces after login (its imap_capability setting), e.g. to test a
	// server without MOVE or UIDPLUS. The commands themselves stay
	// available: a client must go by the announcement.
	IMAPCapability string
	// OAuth2IntrospectionURL, when set, lets users log in with XOAUTH2 and
	// OAUTHBEARER: Dovecot POSTs each token to this URL (RFC 7662 token
	// introspection) and expects {"active": true, "username": "..."}.
	OAuth2IntrospectionURL string
}

// Dovecot is a running private Dovecot.
type Dovecot struct {
	Host    string // always 127.0.0.1
	Port    int    // plain IMAP, STARTTLS offered
	TLSPort int    // implicit TLS
	// CAFile is the PEM certificate the server's certificate is signed
	// with, for MailboxConfig.TLSCAFile.
	CAFile string
	Dir    string // configuration, Maildirs, logs

	t         testing.TB
	bin       string
	conf      string
	passwords map[string]string
	users     []string
	running   bool
}

// binary returns the Dovecot program to use, or "" when there is none.
func binary() string {
	if p := os.Getenv("CLAIMTRAIL_DOVECOT"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot"
	}
	p, _ := exec.LookPath("dovecot")
	return p
}

// StartDovecot starts a Dovecot with the given users (default DefaultUser)
// and stops it when the test ends. Without a Dovecot program the test is
// skipped, or fails when CI=true.
func StartDovecot(t testing.TB, users ...string) *Dovecot {
	t.Helper()
	return StartDovecotWith(t, Options{Users: users})
}

// StartDovecotWith is StartDovecot with options.
func StartDovecotWith(t testing.TB, opts Options) *Dovecot {
	t.Helper()
	bin := binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("ingesttest: no dovecot program: install dovecot-imapd (scripts/servers.sh ensure_dovecot) or set CLAIMTRAIL_DOVECOT")
		}
		t.Skip("ingesttest: no dovecot program (install dovecot-imapd or set CLAIMTRAIL_DOVECOT); skipping")
	}
	users := opts.Users
	if len(users) == 0 {
		users = []string{DefaultUser}
	}
	// Not t.TempDir: Dovecot's UNIX sockets live under base_dir and their
	// paths must stay below 108 bytes.
	dir, err := os.MkdirTemp("", "ctdc-")
	if err != nil {
		t.Fatalf("ingesttest: %v", err)
	}
	d := &Dovecot{Host: "127.0.0.1", Dir: dir, t: t, bin: bin, passwords: map[string]string{}, users: users}
	t.Cleanup(func() {
		if d.running {
			d.stop()
		}
		if t.Failed() {
			d.dumpLog()
		}
		os.RemoveAll(dir)
	})
	for _, u := range users {
		if strings.ContainsAny(u, ":\n\r") {
			t.Fatalf("ingesttest: user name %q cannot go into a passwd-file", u)
		}
		d.passwords[u] = randomHex(12)
	}
	if err := d.setup(opts); err != nil {
		t.Fatalf("ingesttest: set up dovecot: %v", err)
	}
	// Free ports can be taken between choosing and binding them: retry.
	for attempt := 0; ; attempt++ {
		if d.Port, err = freePort(); err == nil {
			d.TLSPort, err = freePort()
		}
		if err != nil {
			t.Fatalf("ingesttest: %v", err)
		}
		if err := d.writeConfig(opts); err != nil {
			t.Fatalf("ingesttest: %v", err)
		}
		err = d.start()
		if err == nil {
			return d
		}
		if attempt == 2 || !strings.Contains(d.logTail(), "in use") {
			t.Fatalf("ingesttest: start dovecot: %v\n%s", err, d.logTail())
		}
	}
}

// Password returns user's password.
func (d *Dovecot) Password(user string) string {
	p, ok := d.passwords[user]
	if !ok {
		d.t.Fatalf("ingesttest: dovecot has no user %q", user)
	}
	return p
}

// MailboxConfig returns a configuration for user over plain IMAP, with a
// short poll interval for tests.
func (d *Dovecot) MailboxConfig(user string) ingest.MailboxConfig {
	return ingest.MailboxConfig{
		Name:         "test-" + strings.SplitN(user, "@", 2)[0],
		Host:         d.Host,
		Port:         d.Port,
		Security:     ingest.SecurityInsecure,
		Username:     user,
		Password:     ingest.Secret(d.Password(user)),
		PollInterval: ingest.Duration(time.Second),
	}
}

// Stop stops the server and waits until it is gone; Start brings it back
// with the same ports, users and mail.
func (d *Dovecot) Stop() {
	d.t.Helper()
	if !d.running {
		d.t.Fatal("ingesttest: Stop: dovecot is not running")
	}
	if err := d.stop(); err != nil {
		d.t.Fatalf("ingesttest: stop dovecot: %v", err)
	}
}

// Start starts a stopped server again and waits until it accepts logins.
func (d *Dovecot) Start() {
	d.t.Helper()
	if d.running {
		d.t.Fatal("ingesttest: Start: dovecot is running")
	}
	if err := d.start(); err != nil {
		d.t.Fatalf("ingesttest: start dovecot: %v\n%s", err, d.logTail())
	}
}

func (d *Dovecot) setup(opts Options) error {
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	// Dovecot's unprivileged processes must reach their sockets.
	for _, p := range []string{d.Dir, filepath.Join(d.Dir, "run")} {
		if err := os.Chmod(p, 0o755); err != nil {
			return err
		}
	}
	var lines strings.Builder
	for _, u := range d.users {
		fmt.Fprintf(&lines, "%s:{PLAIN}%s\n", u, d.passwords[u])
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "users"), []byte(lines.String()), 0o644); err != nil {
		return err
	}
	if err := writeCertificates(d.Dir); err != nil {
		return err
	}
	d.CAFile = filepath.Join(d.Dir, "ca.pem")
	if opts.OAuth2IntrospectionURL != "" {
		conf := "introspection_mode = post\n" +
			"introspection_url = " + opts.OAuth2IntrospectionURL + "\n" +
			"username_attribute = username\n" +
			"active_attribute = active\n" +
			"active_value = true\n"
		if err := os.WriteFile(filepath.Join(d.Dir, "oauth2.conf"), []byte(conf), 0o644); err != nil {
			return err
		}
	}
	if os.Geteuid() == 0 {
		// The mail processes run as the dovecot user (see writeConfig).
		u, err := user.Lookup("dovecot")
		if err != nil {
			return fmt.Errorf("running as root needs the dovecot system user (from the dovecot-core package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(filepath.Join(d.Dir, "mail"), uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dovecot) writeConfig(opts Options) error {
	dir := d.Dir
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by ingesttest for one test; removed with it.")
	w("instance_name = %s", filepath.Base(dir))
	w("base_dir = %s/run", dir)
	w("state_dir = %s/state", dir)
	w("log_path = %s/dovecot.log", dir)
	w("protocols = imap")
	w("listen = 127.0.0.1")
	w("ssl = yes")
	w("ssl_cert = <%s/server.pem", dir)
	w("ssl_key = <%s/server-key.pem", dir)
	w("disable_plaintext_auth = no")
	w("auth_failure_delay = 0")
	w("mail_location = maildir:%s/mail/%%u", dir)
	// Exchange Online separates folder levels with "/"; so do we.
	w("namespace inbox {\n  inbox = yes\n  separator = /\n}")
	if os.Geteuid() == 0 {
		// The login processes refuse to run as root; use the package's
		// unprivileged users.
		w("default_internal_user = dovecot")
		w("default_login_user = dovenull")
		w("first_valid_uid = 0")
		w("userdb {\n  driver = static\n  args = uid=dovecot gid=dovecot home=%s/mail/%%u\n}", dir)
	} else {
		// An ordinary user runs everything as itself, without chroot.
		u, err := user.Current()
		if err != nil {
			return err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return err
		}
		w("default_internal_user = %s", u.Username)
		w("default_internal_group = %s", g.Name)
		w("default_login_user = %s", u.Username)
		w("first_valid_uid = %s", u.Uid)
		w("userdb {\n  driver = static\n  args = uid=%s gid=%s home=%s/mail/%%u\n}", u.Uid, u.Gid, dir)
		w("service anvil {\n  chroot =\n}")
		w("service imap-login {\n  chroot =\n}")
	}
	w("passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %s/users\n}", dir)
	if opts.OAuth2IntrospectionURL != "" {
		w("auth_mechanisms = plain login xoauth2 oauthbearer")
		w("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s/oauth2.conf\n}", dir)
	} else {
		w("auth_mechanisms = plain login")
	}
	w("service imap-login {")
	w("  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }", d.Port)
	w("  inet_listener imaps {\n    address = 127.0.0.1\n    port = %d\n    ssl = yes\n  }", d.TLSPort)
	w("}")
	if opts.IMAPCapability != "" {
		w("imap_capability = %s", opts.IMAPCapability)
	}
	d.conf = filepath.Join(dir, "dovecot.conf")
	return os.WriteFile(d.conf, []byte(b.String()), 0o644)
}

// start runs the master (which daemonizes) and waits until a login works:
// right after start the login process can answer "Waiting for
// authentication process" for a moment.
func (d *Dovecot) start() error {
	// The daemon's children inherit stdout and stderr: a pipe there would
	// never close, so they go to a file.
	outPath := filepath.Join(d.Dir, "start.out")
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, "-c", d.conf)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Close()
	if err != nil {
		msg, _ := os.ReadFile(outPath)
		return fmt.Errorf("%s -c %s: %v: %s", d.bin, d.conf, err, msg)
	}
	d.running = true
	user := d.users[0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := d.tryLogin(user)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no login as %s within 15s: %v", user, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *Dovecot) tryLogin(user string) error {
	c, err := imapclient.DialInsecure(d.addr(d.Port), &imapclient.Options{Dialer: &net.Dialer{Timeout: 2 * time.Second}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user, d.passwords[user]).Wait(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

func (d *Dovecot) stop() error {
	b, err := os.ReadFile(filepath.Join(d.Dir, "run", "master.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("master.pid: %v", err)
	}
	d.running = false
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	// The master takes a second or two to end its children; a new master
	// refuses to start while the old pid lives.
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("dovecot (pid %d) did not stop within 10s; killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (d *Dovecot) addr(port int) string {
	return net.JoinHostPort(d.Host, strconv.Itoa(port))
}

func (d *Dovecot) logTail() string {
	f, err := os.Open(filepath.Join(d.Dir, "dovecot.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func (d *Dovecot) dumpLog() {
	if tail := d.logTail(); tail != "" {
		d.t.Logf("dovecot log (last lines):\n%s", tail)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
