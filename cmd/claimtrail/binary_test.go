package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
	"github.com/claimtrail/claimtrail/rules"
)

// Helpers for the tests that run the real claimtrail binary against a real
// Dovecot and store: the crash test, the outage test and the benchmark.

// buildClaimtrail compiles this command into a temporary directory.
func buildClaimtrail(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "claimtrail")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pollerSetup is a configuration for `claimtrail run` polling one Dovecot
// user into a store.
type pollerSetup struct {
	dir    string // ledger, objects, config, logs
	tmp    string // the children's TMPDIR, where they spool
	config string // the configuration file
	ledger archive.LedgerConfig
	store  archive.StoreConfig
	d      *ingesttest.Dovecot
	user   string
}

// mailboxName is the name of the polled mailbox in every configuration
// written by newPollerSetup.
const mailboxName = "shared"

// newPollerSetup writes a configuration with the corpus's tenants, DKIM off
// (the tests have no DNS), a ledger in a temporary directory, store (a dir
// store there when store.Store is "dir") and mailUser's INBOX on d.
func newPollerSetup(t testing.TB, d *ingesttest.Dovecot, mailUser string, store archive.StoreConfig) *pollerSetup {
	t.Helper()
	return newPollerSetupPort(t, d, d.Port, mailUser, store)
}

// newPollerSetupPort is newPollerSetup with the mailbox reached at
// imapPort (a proxy) instead of Dovecot's port.
func newPollerSetupPort(t testing.TB, d *ingesttest.Dovecot, imapPort int, mailUser string, store archive.StoreConfig) *pollerSetup {
	t.Helper()
	return newPollerSetupLedger(t, d, imapPort, mailUser, store, sqliteLedger)
}

// ledgerSection is the ledger section of a test's configuration, for a
// test directory: the ledger under test.
type ledgerSection func(t testing.TB, dir string) archive.LedgerConfig

// sqliteLedger is a SQLite ledger file in dir.
func sqliteLedger(_ testing.TB, dir string) archive.LedgerConfig {
	return archive.LedgerConfig{Path: filepath.Join(dir, "ledger.db")}
}

// newPollerSetupLedger is newPollerSetupPort with the ledger ledger gives.
func newPollerSetupLedger(t testing.TB, d *ingesttest.Dovecot, imapPort int, mailUser string, store archive.StoreConfig, ledger ledgerSection) *pollerSetup {
	t.Helper()
	dir := t.TempDir()
	if store.Store == "dir" {
		store.Dir = filepath.Join(dir, "objects")
	}
	p := &pollerSetup{
		dir:    dir,
		tmp:    filepath.Join(dir, "tmp"),
		config: filepath.Join(dir, "claimtrail.yaml"),
		ledger: ledger(t, dir),
		store:  store,
		d:      d,
		user:   mailUser,
	}
	if err := os.Mkdir(p.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var archiveYAML string
	if store.Store == "dir" {
		archiveYAML = fmt.Sprintf("archive:\n  store: dir\n  dir: %s\n", store.Dir)
	} else {
		archiveYAML = fmt.Sprintf("archive:\n  store: minio\n  endpoint: %s\n  bucket: %s\n  access_key: %s\n  secret_key: %q\n",
			store.Endpoint, store.Bucket, store.AccessKey, store.SecretKey)
	}
	ledgerYAML, err := yaml.Marshal(struct {
		Ledger archive.LedgerConfig `yaml:"ledger"`
	}{p.ledger})
	if err != nil {
		t.Fatal(err)
	}
	// One replica, under a fixed ID: a run started after a killed one
	// takes the folder's lease back at once, as a service restarted under
	// its replica.id does. Tests of several replicas give each its own
	// with --replica-id.
	cfg := string(base) + "\n" + archiveYAML + string(ledgerYAML) + `replica:
  id: solo
` + fmt.Sprintf(`dkim:
  verify: false
mailboxes:
  - name: %s
    host: %s
    port: %d
    security: insecure
    username: %s
    password: %q
`, mailboxName, d.Host, imapPort, mailUser, d.Password(mailUser))
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// child is a running claimtrail process.
type child struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when it has exited
	err    error         // Wait's error, once done
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs bin with args and p's TMPDIR; its stdout and stderr are
// collected together. The test ends it with SIGKILL if it is still
// running.
func (p *pollerSetup) start(t testing.TB, bin string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "TMPDIR="+p.tmp)
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

// kill ends the child with SIGKILL and waits for it.
func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// exited reports whether the child has ended on its own.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// maxRSS is the child's peak resident set, in bytes, once it has exited.
func (c *child) maxRSS() int64 {
	ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return ru.Maxrss << 10 // Linux reports KiB
}

// runOnce runs `claimtrail run --once` to the end and returns its output.
func (p *pollerSetup) runOnce(t testing.TB, bin string, timeout time.Duration) string {
	t.Helper()
	c := p.start(t, bin, "run", "--config", p.config, "--once")
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.kill()
		t.Fatalf("run --once did not finish within %s; output:\n%s", timeout, tail(c.stderr.String(), 40))
	}
	if c.err != nil {
		t.Fatalf("run --once: %v; output:\n%s", c.err, tail(c.stderr.String(), 40))
	}
	return c.stderr.String()
}

// leftovers lists the files the children left in their TMPDIR and, with a
// dir store, the store's temporary files: what killed runs leave behind.
func (p *pollerSetup) leftovers(t testing.TB) []string {
	t.Helper()
	var out []string
	roots := []string{p.tmp}
	if p.store.Store == "dir" {
		roots = append(roots, p.store.Dir)
	}
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// The store's temporary files are those under a dot name.
			rel, _ := filepath.Rel(root, path)
			hidden := strings.HasPrefix(rel, ".") || strings.Contains(rel, string(filepath.Separator)+".")
			if !e.IsDir() && (root == p.tmp || hidden) {
				out = append(out, path)
			}
			return nil
		})
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// openSetupState opens the ledger and the store of p, closed when the test
// ends.
func (p *pollerSetup) openState(t testing.TB) (*archive.Ledger, archive.Store) {
	t.Helper()
	ctx := context.Background()
	l, err := archive.OpenLedger(ctx, p.ledger)
	if err != nil {
		t.Fatalf("OpenLedger: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	s, err := archive.OpenStore(ctx, p.store)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return l, s
}

// folderSHAs returns how many copies of each raw message (by hex SHA-256)
// folder of user holds.
func folderSHAs(t testing.TB, d *ingesttest.Dovecot, mailUser, folder string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, sha := range folderMessages(t, d, mailUser, folder) {
		out[sha]++
	}
	return out
}

// folderMessages returns the hex SHA-256 of each message in folder of user
// as the server serves it, by UID.
func folderMessages(t testing.TB, d *ingesttest.Dovecot, mailUser, folder string) map[uint32]string {
	t.Helper()
	out := map[uint32]string{}
	if len(d.UIDs(t, mailUser, folder)) == 0 {
		return out
	}
	c := d.Dial(t, mailUser)
	defer c.Logout()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("examine %s: %v", folder, err)
	}
	cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var sum string
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				h := sha256.New()
				if _, err := io.Copy(h, it.Literal); err != nil {
					t.Fatalf("fetch %s: %v", folder, err)
				}
				sum = hex.EncodeToString(h.Sum(nil))
			}
		}
		if uid != 0 && sum != "" {
			out[uint32(uid)] = sum
		}
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("fetch %s: %v", folder, err)
	}
	return out
}

// moveMail moves the messages uids of folder to dest of user, as mail
// arriving: staged mail is delivered with its bytes known.
func moveMail(t testing.TB, d *ingesttest.Dovecot, mailUser, folder string, uids []uint32, dest string) {
	t.Helper()
	c := d.Dial(t, mailUser)
	defer c.Logout()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatalf("select %s: %v", folder, err)
	}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	if _, err := c.Move(set, dest).Wait(); err != nil {
		t.Fatalf("move %d messages from %s to %s: %v", len(uids), folder, dest, err)
	}
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// verdictFolders maps each verdict to the folder `run` moves its mail to
// (the defaults of ingest.MoveTo).
var verdictFolders = map[rules.Verdict]string{
	rules.Accepted:  "Accepted",
	rules.Rejected:  "Rejected",
	rules.Unmatched: "Unmatched",
}

// checkAllDone asserts what issue 4 asks after a crash or an outage: every
// distinct raw message put into the mailbox (copies: SHA-256 -> how many
// copies were appended) has exactly one ledger row, finished; exactly one
// evidence bundle, intact, the one the ledger names; every copy lives in
// the folder of its verdict and nothing is left in INBOX or anywhere else;
// and the audit trail verifies against the store's anchors.
func (p *pollerSetup) checkAllDone(t testing.TB, copies map[string]int) {
	t.Helper()
	ctx := context.Background()
	l, s := p.openState(t)

	all, err := l.Messages(ctx, archive.MessageFilter{})
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	rows := map[string]*archive.Message{}
	for _, m := range all {
		if rows[m.SHA256] != nil {
			t.Errorf("ledger has two rows for %s", m.SHA256)
		}
		rows[m.SHA256] = m
		if copies[m.SHA256] == 0 {
			t.Errorf("ledger has a row for %s, which was never in the mailbox", m.SHA256)
		}
	}
	if len(rows) != len(copies) {
		t.Errorf("ledger has %d messages, want %d", len(rows), len(copies))
	}
	byVerdict := map[rules.Verdict]int{}
	for sha, n := range copies {
		m := rows[sha]
		if m == nil {
			t.Errorf("message %s has no ledger row", sha)
			continue
		}
		if m.Next() != archive.StepDone {
			t.Errorf("message %s (uid %d): next step %s, want done", sha, m.UID, m.Next())
			continue
		}
		if want := verdictFolders[m.Judgment.Verdict]; m.MovedTo != want {
			t.Errorf("message %s judged %s was recorded as moved to %q, want %q", sha, m.Judgment.Verdict, m.MovedTo, want)
		}
		byVerdict[m.Judgment.Verdict] += n
	}
	if left, err := l.UnfinishedMessages(ctx, mailboxName, "INBOX", 0); err != nil || len(left) != 0 {
		t.Errorf("UnfinishedMessages = %d messages, %v; want none", len(left), err)
	}

	// Exactly one object per message, the one the ledger names, intact.
	bundles := map[string][]string{}
	for obj, err := range s.List(ctx, "bundles/") {
		if err != nil {
			t.Fatalf("List(bundles/): %v", err)
		}
		sha, _, perr := evidence.ParseBundleKey(obj.Key)
		if perr != nil {
			t.Errorf("stray object %s: %v", obj.Key, perr)
			continue
		}
		bundles[sha] = append(bundles[sha], obj.Key)
	}
	for sha, keys := range bundles {
		m := rows[sha]
		if m == nil {
			t.Errorf("bundles %v belong to no ledger row", keys)
			continue
		}
		if len(keys) != 1 || keys[0] != m.BundleKey {
			t.Errorf("message %s has bundles %v, want only %s", sha, keys, m.BundleKey)
			continue
		}
		p.checkBundle(t, s, m)
	}
	if len(bundles) != len(rows) {
		t.Errorf("store holds bundles of %d messages, want %d", len(bundles), len(rows))
	}

	// Every copy in the folder of its verdict; nothing left, nothing else.
	if left := p.d.UIDs(t, p.user, "INBOX"); len(left) != 0 {
		t.Errorf("INBOX still holds %d messages", len(left))
	}
	for v, folder := range verdictFolders {
		held := folderSHAs(t, p.d, p.user, folder)
		total := 0
		for sha, n := range held {
			total += n
			m := rows[sha]
			switch {
			case m == nil:
				t.Errorf("%s holds %s, which the ledger does not know", folder, sha)
			case m.Judgment == nil || m.Judgment.Verdict != v:
				t.Errorf("%s holds %s, judged %v", folder, sha, m.Judgment)
			case n != copies[sha]:
				t.Errorf("%s holds %d copies of %s, want %d", folder, n, sha, copies[sha])
			}
		}
		if total != byVerdict[v] {
			t.Errorf("%s holds %d messages, the ledger judged %d copies %s", folder, total, byVerdict[v], v)
		}
	}

	rep, err := l.VerifyAudit(ctx, s)
	if err != nil {
		t.Errorf("VerifyAudit: %v", err)
	} else if rep.Anchors == 0 {
		t.Errorf("VerifyAudit checked no anchors; want the store's anchors checked")
	}
	// Each step of each message was audited once.
	for _, action := range []archive.Action{archive.ActionMessageReceived, archive.ActionJudged, archive.ActionBundleStored, archive.ActionMoved} {
		entries, err := l.AuditEntries(ctx, archive.AuditFilter{Actions: []archive.Action{action}})
		if err != nil {
			t.Fatalf("AuditEntries(%s): %v", action, err)
		}
		seen := map[string]int{}
		for _, e := range entries {
			seen[e.Subject]++
		}
		for sha := range rows {
			if n := seen["message:"+sha]; n != 1 {
				t.Errorf("audit has %d %s entries for %s, want 1", n, action, sha)
			}
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("all done: %d distinct messages (%d copies): %v; %d audit entries, %d anchors checked",
		len(rows), sumCounts(copies), byVerdict, rep.Entries, rep.Anchors)
}

// checkBundle reads m's bundle through the store (which checks its
// SHA-256) and verifies it against its key.
func (p *pollerSetup) checkBundle(t testing.TB, s archive.Store, m *archive.Message) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), m.BundleKey)
	if err != nil {
		t.Errorf("Get(%s): %v", m.BundleKey, err)
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Errorf("read %s: %v", m.BundleKey, err)
		return
	}
	if info.SHA256 != m.BundleSHA256 || sha256Hex(b) != m.BundleSHA256 {
		t.Errorf("bundle %s: stored SHA-256 %s, read %s, ledger says %s", m.BundleKey, info.SHA256, sha256Hex(b), m.BundleSHA256)
	}
	if err := evidence.VerifyBundle(bytes.NewReader(b), int64(len(b)), m.BundleKey); err != nil {
		t.Errorf("VerifyBundle(%s): %v", m.BundleKey, err)
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// restartDovecot stops d, ends the IMAP sessions its Stop leaves running
// and starts it again: an ingesttest Dovecot's sessions outlive its master
// (they are reparented and keep serving), so without this a restart would
// not touch a client's connection. The sessions are found by their process
// title, dovecot-<instance>/imap, which names this test's instance only,
// and are sent SIGTERM, so that each logs what it was doing. It returns
// what they logged.
func restartDovecot(t testing.TB, d *ingesttest.Dovecot) string {
	t.Helper()
	logPath := filepath.Join(d.Dir, "dovecot.log")
	before, _ := os.ReadFile(logPath)
	d.Stop()
	title := "dovecot-" + filepath.Base(d.Dir) + "/imap"
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(cmdline, []byte(title)) {
			continue
		}
		if rest := cmdline[len(title):]; len(rest) > 0 && rest[0] != 0 && rest[0] != ' ' {
			continue // imap-login and the like
		}
		if syscall.Kill(pid, syscall.SIGTERM) == nil {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	d.Start()
	after, _ := os.ReadFile(logPath)
	var lines []string
	if len(after) > len(before) {
		for _, line := range strings.Split(string(after[len(before):]), "\n") {
			if strings.Contains(line, "Disconnected") {
				lines = append(lines, line)
			}
		}
	}
	return fmt.Sprintf("%d sessions ended: %s", len(pids), strings.Join(lines, "; "))
}

// imapProxy forwards TCP connections to an IMAP server and can break them
// in the middle of a body fetch, as a server that dies would.
type imapProxy struct {
	ln     net.Listener
	target string
	// fetching is closed when a server has sent more than 1 MB in answer
	// to the second body fetch (BODY.PEEK[]) the clients asked for; that
	// answer is then held back until cut.
	fetching chan struct{}
	fetches  atomic.Int32
	once     sync.Once

	mu      sync.Mutex
	conns   map[net.Conn]bool
	cutting chan struct{}
	cutOnce sync.Once
}

// startIMAPProxy listens on 127.0.0.1 and forwards to target until the
// test ends.
func startIMAPProxy(t testing.TB, target string) *imapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &imapProxy{ln: ln, target: target, fetching: make(chan struct{}), conns: map[net.Conn]bool{}, cutting: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// port is the proxy's port.
func (p *imapProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// cut closes every connection the proxy holds, once; later connections
// are forwarded as usual.
func (p *imapProxy) cut() {
	p.cutOnce.Do(func() { close(p.cutting) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *imapProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *imapProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	p.track(client, true)
	p.track(server, true)
	defer p.track(client, false)
	defer p.track(server, false)
	var fetch atomic.Int32 // the number of this connection's current body fetch
	go func() {
		// Client to server: watch for body fetches. The end of the last
		// read, one byte short of the pattern, catches one split in two
		// without counting a whole one twice.
		pattern := []byte("BODY.PEEK[]")
		buf, carry := make([]byte, 32<<10), []byte(nil)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				seen := append(carry, buf[:n]...)
				if bytes.Contains(seen, pattern) {
					fetch.Store(p.fetches.Add(1))
				}
				carry = append([]byte(nil), seen[max(0, len(seen)-len(pattern)+1):]...)
				if _, werr := server.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
			if err != nil {
				server.Close()
				return
			}
		}
	}()
	// Server to client: count what answers the second body fetch.
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if fetch.Load() == 2 {
				if sent += int64(n); sent > 1<<20 {
					p.once.Do(func() { close(p.fetching) })
					<-p.cutting // the rest of the fetch never arrives
					return
				}
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// errNotReady is returned by waits that ran out of time.
var errNotReady = errors.New("not ready")

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errNotReady
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
