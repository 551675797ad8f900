package ingest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// memLeases is an in-memory ingest.LeaseStore with archive.Ledger's rules
// (archive's tests pin those); a test can hand a lease to another replica
// or make every call fail.
type memLeases struct {
	mu     sync.Mutex
	leases map[string]archive.Lease
	fail   error
	calls  int
	hang   chan struct{} // when set, calls wait for it to close
}

func newMemLeases() *memLeases { return &memLeases{leases: map[string]archive.Lease{}} }

func (m *memLeases) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (archive.Lease, error) {
	m.mu.Lock()
	hang := m.hang
	m.mu.Unlock()
	if hang != nil {
		<-hang
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		return archive.Lease{}, m.fail
	}
	now := time.Now()
	l, ok := m.leases[name]
	if ok && l.Holder != holder && now.Before(l.Expires) {
		return l, nil
	}
	l = archive.Lease{Name: name, Holder: holder, Expires: now.Add(ttl)}
	m.leases[name] = l
	l.Held = true
	return l, nil
}

func (m *memLeases) ReleaseLease(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leases[name].Holder == holder {
		delete(m.leases, name)
	}
	return nil
}

// give hands the lease to holder for an hour, as another replica taking
// it would; "" frees it.
func (m *memLeases) give(name, holder string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if holder == "" {
		delete(m.leases, name)
		return
	}
	m.leases[name] = archive.Lease{Name: name, Holder: holder, Expires: time.Now().Add(time.Hour)}
}

func (m *memLeases) holder(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leases[name].Holder
}

func (m *memLeases) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// setHang makes calls wait until the channel returned is closed.
func (m *memLeases) setHang() chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hang = make(chan struct{})
	return m.hang
}

func (m *memLeases) clearHang() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.hang)
	m.hang = nil
}

func (m *memLeases) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// heldGauge counts the leases held, as the metrics gauge does.
type heldGauge struct{ n, gains atomic.Int32 }

func (g *heldGauge) LeaseHeld(held bool) {
	if held {
		g.n.Add(1)
		g.gains.Add(1)
	} else {
		g.n.Add(-1)
	}
}

// leaseOptions are testOptions with leases held by "me", renewed every
// 200ms and retried every 20ms.
func leaseOptions(t *testing.T, store *memLeases, g *heldGauge) *ingest.IMAPOptions {
	o := testOptions(t)
	o.Leases = &ingest.LeaseOptions{Store: store, Holder: "me", TTL: 600 * time.Millisecond, Retry: 20 * time.Millisecond, Observer: g}
	return o
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func memCount(t *testing.T, u *imapmemserver.User, folder string) int {
	t.Helper()
	st, err := u.Status(folder, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return 0 // not created yet
	}
	return int(*st.NumMessages)
}

// moveCaps are the in-memory server's capabilities with MOVE, so that a
// moved message leaves its folder at once.
var moveCaps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}

// runSource runs src until the test ends.
func runSource(t *testing.T, src *ingest.IMAPSource, p ingest.Processor) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, p) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestLeaseNameIsUnambiguous(t *testing.T) {
	tests := []struct{ mailbox, folder, want string }{
		{"claims@partner.example", "INBOX", "imap:claims@partner.example/INBOX"},
		{"a/b", "c", "imap:a%2Fb/c"},
		{"a", "b/c", "imap:a/b/c"},
		{"support desk", "Claims/New", "imap:support%20desk/Claims/New"},
	}
	for _, tt := range tests {
		if got := ingest.LeaseName(tt.mailbox, tt.folder); got != tt.want {
			t.Errorf("LeaseName(%q, %q) = %q, want %q", tt.mailbox, tt.folder, got, tt.want)
		}
	}
}

func TestRunOnceLeaseHeldElsewhere(t *testing.T) {
	cfg, u := memServer(t, moveCaps, nil)
	memAppend(t, u, "INBOX", ingesttest.NewMessage(1, "a", 600))
	leases, g := newMemLeases(), &heldGauge{}
	name := ingest.LeaseName(cfg.Name, "INBOX")
	leases.give(name, "other-replica")
	var handled atomic.Int32
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), leaseOptions(t, leases, g))
	if err != nil {
		t.Fatal(err)
	}
	err = src.RunOnce(context.Background(), ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
		handled.Add(1)
		return ingest.ToAccepted, nil
	}))
	if !errors.Is(err, ingest.ErrLeaseHeld) || !strings.Contains(err.Error(), "other-replica") {
		t.Errorf("RunOnce with the folder leased elsewhere = %v, want ErrLeaseHeld naming other-replica", err)
	}
	if n := handled.Load(); n != 0 || memCount(t, u, "INBOX") != 1 {
		t.Errorf("RunOnce handled %d messages, INBOX holds %d; want 0 and 1", n, memCount(t, u, "INBOX"))
	}
	if h := leases.holder(name); h != "other-replica" || g.gains.Load() != 0 {
		t.Errorf("after RunOnce the lease is %q's (gained %d times), want other-replica's, never gained", h, g.gains.Load())
	}
}

func TestRunOnceTakesAndReleasesLease(t *testing.T) {
	cfg, u := memServer(t, moveCaps, nil)
	memAppend(t, u, "INBOX", ingesttest.NewMessage(1, "a", 600))
	leases, g := newMemLeases(), &heldGauge{}
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), leaseOptions(t, leases, g))
	if err != nil {
		t.Fatal(err)
	}
	err = src.RunOnce(context.Background(), ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
		return ingest.ToAccepted, nil
	}))
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if memCount(t, u, "INBOX") != 0 || memCount(t, u, "Accepted") != 1 {
		t.Errorf("INBOX holds %d, Accepted %d; want 0 and 1", memCount(t, u, "INBOX"), memCount(t, u, "Accepted"))
	}
	if h := leases.holder(ingest.LeaseName(cfg.Name, "INBOX")); h != "" || g.gains.Load() != 1 || g.n.Load() != 0 {
		t.Errorf("after RunOnce the lease is %q's, gained %d times, %d held; want released after one gain", h, g.gains.Load(), g.n.Load())
	}
}

// A replica waits while another holds the folder, and takes over when it
// is released.
func TestRunTakesOverReleasedLease(t *testing.T) {
	cfg, u := memServer(t, moveCaps, nil)
	memAppend(t, u, "INBOX", ingesttest.NewMessage(1, "a", 600))
	leases, g := newMemLeases(), &heldGauge{}
	name := ingest.LeaseName(cfg.Name, "INBOX")
	leases.give(name, "other-replica")
	var handled atomic.Int32
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), leaseOptions(t, leases, g))
	if err != nil {
		t.Fatal(err)
	}
	runSource(t, src, ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
		handled.Add(1)
		return ingest.ToAccepted, nil
	}))
	// Refused a few times: it must not have touched the folder.
	waitFor(t, "three attempts at the lease", func() bool { return leases.callCount() >= 3 })
	if n := handled.Load(); n != 0 || g.gains.Load() != 0 {
		t.Fatalf("without the lease the source handled %d messages (gained %d), want none", n, g.gains.Load())
	}
	leases.give(name, "")
	waitFor(t, "the mail to be moved after the takeover", func() bool { return memCount(t, u, "Accepted") == 1 })
	if h := leases.holder(name); h != "me" || handled.Load() != 1 || g.n.Load() != 1 {
		t.Errorf("after the takeover the lease is %q's, %d handled, %d held; want me, 1, 1", h, handled.Load(), g.n.Load())
	}
}

// A lease lost while a message is in hand stops the source before the
// move and the checkpoint: the message is offered again when the lease
// is back, and moved then.
func TestRunStopsMovingWhenLeaseLost(t *testing.T) {
	tests := []struct {
		name string
		lose func(l *memLeases, name string)
		back func(l *memLeases, name string)
	}{
		{"taken by another replica",
			func(l *memLeases, name string) { l.give(name, "other-replica") },
			func(l *memLeases, name string) { l.give(name, "") }},
		{"renewal fails",
			func(l *memLeases, _ string) { l.setFail(errors.New("database is locked")) },
			func(l *memLeases, _ string) { l.setFail(nil) }},
		// The source's own deadline stops the work: a renewal that never
		// returns must not let it outlive the lease.
		{"renewal hangs",
			func(l *memLeases, _ string) { l.setHang() },
			func(l *memLeases, _ string) { l.clearHang() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, u := memServer(t, moveCaps, nil)
			memAppend(t, u, "INBOX", ingesttest.NewMessage(1, "a", 600))
			leases, g := newMemLeases(), &heldGauge{}
			name := ingest.LeaseName(cfg.Name, "INBOX")
			started, unblock := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			cps := newMemCheckpoints()
			src, err := ingest.NewIMAPSource(cfg, cps, leaseOptions(t, leases, g))
			if err != nil {
				t.Fatal(err)
			}
			runSource(t, src, ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
				if calls.Add(1) == 1 {
					close(started)
					<-unblock
				}
				return ingest.ToAccepted, nil
			}))
			<-started
			tt.lose(leases, name)
			waitFor(t, "the lease to be given up", func() bool { return g.n.Load() == 0 })
			close(unblock)
			// Had the first handling moved the mail, it would not be
			// offered again.
			tt.back(leases, name)
			waitFor(t, "the mail to be moved once the lease is back", func() bool { return memCount(t, u, "Accepted") == 1 })
			if n := calls.Load(); n != 2 {
				t.Errorf("the message was handled %d times, want 2: the first handling's move must not be made after the lease was lost", n)
			}
			if memCount(t, u, "INBOX") != 0 || g.n.Load() != 1 || g.gains.Load() != 2 {
				t.Errorf("INBOX holds %d, %d leases held after %d gains; want 0, 1, 2", memCount(t, u, "INBOX"), g.n.Load(), g.gains.Load())
			}
		})
	}
}

// RunOnce cannot tell whether another replica polls a folder when the
// lease store fails: that is a failure, not ErrLeaseHeld.
func TestRunOnceLeaseStoreDown(t *testing.T) {
	cfg, u := memServer(t, moveCaps, nil)
	memAppend(t, u, "INBOX", ingesttest.NewMessage(1, "a", 600))
	leases := newMemLeases()
	leases.setFail(errors.New("database is locked"))
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), leaseOptions(t, leases, &heldGauge{}))
	if err != nil {
		t.Fatal(err)
	}
	err = src.RunOnce(context.Background(), ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
		return ingest.ToAccepted, nil
	}))
	if err == nil || errors.Is(err, ingest.ErrLeaseHeld) || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("RunOnce with the lease store down = %v, want its error, not ErrLeaseHeld", err)
	}
	if memCount(t, u, "INBOX") != 1 {
		t.Errorf("INBOX holds %d messages, want 1 untouched", memCount(t, u, "INBOX"))
	}
}
