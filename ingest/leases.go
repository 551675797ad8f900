package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// LeaseStore is where replicas of the poller agree which of them polls a
// folder; archive.Ledger fits. Both methods are safe for concurrent use,
// by several processes too.
type LeaseStore interface {
	// AcquireLease takes the lease called name for holder until ttl from
	// now when it is free, expired or holder's already (a renewal); the
	// Lease returned says whether holder has it (Held) and, if not, who
	// does. Errors are temporary.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (archive.Lease, error)
	// ReleaseLease gives up holder's lease, so that another replica can
	// take it at once; a no-op when holder does not hold it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// LeaseObserver is told when the source gains or loses a folder's lease,
// for metrics; web.Metrics fits. Safe for concurrent use and cheap.
type LeaseObserver interface {
	LeaseHeld(held bool)
}

// Defaults of LeaseOptions. A replica that dies without releasing its
// leases is replaced within DefaultLeaseTTL + DefaultLeaseRetry.
const (
	DefaultLeaseTTL   = 20 * time.Second
	DefaultLeaseRetry = 5 * time.Second
)

// LeaseOptions makes an IMAPSource poll a folder only while it holds the
// folder's lease (LeaseName), so that several replicas sharing one ledger
// poll each folder one at a time. The holder renews a lease every TTL/3;
// when a renewal fails, finds the lease lost, or does not succeed by 2/3
// of TTL after the last, the source stops fetching and moving that
// folder's mail at once (the IMAP connection is closed) and goes back to
// trying to acquire it every Retry. Replicas need clocks kept in step
// (NTP): expiry is judged by the clock of the replica that takes over.
type LeaseOptions struct {
	Store LeaseStore // required
	// Holder names this replica in the leases; required, and unique among
	// the replicas (a restart under the same name takes its leases back
	// at once instead of waiting for them to expire).
	Holder string
	// TTL is how long a lease lasts unless renewed; DefaultLeaseTTL when 0.
	TTL time.Duration
	// Retry is how often a folder held by another replica is tried;
	// DefaultLeaseRetry when 0.
	Retry    time.Duration
	Observer LeaseObserver // nil: nobody watches
}

func (o LeaseOptions) withDefaults() LeaseOptions {
	if o.TTL <= 0 {
		o.TTL = DefaultLeaseTTL
	}
	if o.Retry <= 0 {
		o.Retry = DefaultLeaseRetry
	}
	return o
}

// ErrLeaseLost is the cause of the cancellation of a session that lost a
// folder's lease: its work stops before any further fetch or move.
var ErrLeaseLost = errors.New("ingest: folder lease lost")

// ErrLeaseHeld says another replica polls every folder of a mailbox: RunOnce
// did nothing. The error's text names the replicas.
var ErrLeaseHeld = errors.New("polled by another replica")

// errLeasesChanged ends a session whose folders' leases changed: one was
// gained while it waited (the next session polls that folder too), or
// none is held.
var errLeasesChanged = errors.New("ingest: folder leases changed")

// LeaseName is the name of the lease of mailbox's folder: "imap:" and the
// mailbox name, escaped so that a "/" in it cannot be read as the
// separator, then "/" and the folder (claims@partner.example/INBOX).
func LeaseName(mailbox, folder string) string {
	return "imap:" + url.PathEscape(mailbox) + "/" + folder
}

// folderLeases keeps the leases of one mailbox's folders: a goroutine per
// folder acquires and renews, and a lost lease cancels the session at work.
type folderLeases struct {
	opts    LeaseOptions
	mailbox string
	log     *slog.Logger

	mu      sync.Mutex
	held    map[string]bool
	gen     map[string]int           // of each folder's holding, so a stale deadline is ignored
	expiry  map[string]*time.Timer   // stops the work when a renewal hangs
	others  map[string]archive.Lease // the last lease seen held by another replica
	failed  map[string]error         // the last attempt's error, while it fails
	gained  chan struct{}            // closed, and replaced, when a lease is gained
	session context.CancelCauseFunc  // of the session at work, nil between sessions

	wg sync.WaitGroup
}

// startLeases makes one attempt at every folder's lease, so that the
// caller knows what it holds, then keeps them (renewing, retrying) until
// ctx ends, when it releases those it holds. ctx must outlive the work on
// the folders: a lease released while mail is still being moved would let
// another replica start on the same mail.
func startLeases(ctx context.Context, mailbox string, folders []string, opts LeaseOptions, log *slog.Logger) *folderLeases {
	fl := &folderLeases{opts: opts.withDefaults(), mailbox: mailbox, log: log,
		held: map[string]bool{}, gen: map[string]int{}, expiry: map[string]*time.Timer{}, others: map[string]archive.Lease{}, failed: map[string]error{}, gained: make(chan struct{})}
	first := make([]time.Duration, len(folders))
	var wg sync.WaitGroup
	for i, f := range folders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first[i] = fl.try(ctx, f)
		}()
	}
	wg.Wait()
	for i, f := range folders {
		fl.wg.Add(1)
		go func() {
			defer fl.wg.Done()
			fl.keep(ctx, f, first[i])
		}()
	}
	return fl
}

// wait waits for the keepers to end (after ctx did) and their releases.
func (fl *folderLeases) wait() { fl.wg.Wait() }

// keep renews or retries folder's lease until ctx ends, the first attempt
// after next, then releases it if held.
func (fl *folderLeases) keep(ctx context.Context, folder string, next time.Duration) {
	for Sleep(ctx, next) && ctx.Err() == nil {
		next = fl.try(ctx, folder)
	}
	if fl.lose(folder, -1, context.Cause(ctx)) {
		// A clean stop: a peer may take over at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fl.opts.TTL/3)
		defer cancel()
		name := LeaseName(fl.mailbox, folder)
		if err := fl.opts.Store.ReleaseLease(rctx, name, fl.opts.Holder); err != nil {
			fl.log.Warn("lease not released; another replica takes the folder when it expires", "folder", folder, "lease", name, "err", err)
			return
		}
		fl.log.Info("lease released", "folder", folder, "lease", name, "replica", fl.opts.Holder)
	}
}

// try acquires or renews folder's lease once and returns when to try next.
func (fl *folderLeases) try(ctx context.Context, folder string) time.Duration {
	name := LeaseName(fl.mailbox, folder)
	start := time.Now()
	// The lease may have expired in the eyes of other replicas at
	// start+TTL at the earliest; work stops a margin before.
	deadline := start.Add(fl.opts.TTL * 2 / 3)
	lease, err := fl.opts.Store.AcquireLease(ctx, name, fl.opts.Holder, fl.opts.TTL)
	if ctx.Err() != nil {
		if err == nil && lease.Held {
			fl.gain(folder, lease, deadline) // so that keep releases it
		}
		return 0
	}
	switch {
	case err == nil && lease.Held && time.Now().Before(deadline):
		fl.gain(folder, lease, deadline)
		return fl.opts.TTL/3 - time.Since(start)
	case err == nil && lease.Held:
		err = fmt.Errorf("renewal took %s, too long to trust the lease", time.Since(start).Round(time.Millisecond))
		fallthrough
	case err != nil:
		fl.mu.Lock()
		fl.failed[folder] = err
		fl.mu.Unlock()
		if fl.lose(folder, -1, fmt.Errorf("%w: %w", ErrLeaseLost, err)) {
			fl.log.Error("lease not renewed; stopped polling the folder", "folder", folder, "lease", name, "replica", fl.opts.Holder, "err", err)
		} else {
			fl.log.Warn("lease could not be acquired; trying again", "folder", folder, "lease", name, "err", err, "retry_in", fl.opts.Retry.String())
		}
	default:
		if fl.lose(folder, -1, fmt.Errorf("%w: taken by %s", ErrLeaseLost, lease.Holder)) {
			fl.log.Error("lease lost to another replica; stopped polling the folder", "folder", folder, "lease", name,
				"replica", fl.opts.Holder, "holder", lease.Holder)
		}
		fl.mu.Lock()
		delete(fl.failed, folder)
		seen := fl.others[folder]
		fl.others[folder] = lease
		fl.mu.Unlock()
		if seen.Holder != lease.Holder {
			fl.log.Info("folder polled by another replica; standing by", "folder", folder, "lease", name,
				"holder", lease.Holder, "expires", lease.Expires.Format(time.RFC3339), "retry_every", fl.opts.Retry.String())
		}
	}
	return fl.opts.Retry
}

// gain records that folder's lease is held until deadline, by this
// replica's clock.
func (fl *folderLeases) gain(folder string, lease archive.Lease, deadline time.Time) {
	fl.mu.Lock()
	delete(fl.failed, folder)
	fl.gen[folder]++
	gen := fl.gen[folder]
	fresh := !fl.held[folder]
	if fresh {
		fl.held[folder] = true
		delete(fl.others, folder)
		close(fl.gained)
		fl.gained = make(chan struct{})
	}
	// A renewal that hangs must not outlast the lease.
	if t := fl.expiry[folder]; t != nil {
		t.Stop()
	}
	fl.expiry[folder] = time.AfterFunc(time.Until(deadline), func() {
		if fl.lose(folder, gen, fmt.Errorf("%w: not renewed by %s", ErrLeaseLost, deadline.Format(time.RFC3339Nano))) {
			fl.log.Error("lease not renewed in time; stopped polling the folder", "folder", folder, "lease", lease.Name, "replica", fl.opts.Holder)
		}
	})
	fl.mu.Unlock()
	if !fresh {
		return
	}
	if fl.opts.Observer != nil {
		fl.opts.Observer.LeaseHeld(true)
	}
	if lease.TakenFrom != "" {
		fl.log.Warn("lease taken over from a replica that stopped renewing it", "folder", folder, "lease", lease.Name,
			"replica", fl.opts.Holder, "from", lease.TakenFrom, "expired_for", lease.ExpiredFor.String())
		return
	}
	fl.log.Info("lease acquired; polling the folder", "folder", folder, "lease", lease.Name, "replica", fl.opts.Holder)
}

// lose records that folder's lease is no longer held, and stops the
// session at work with cause. gen, unless -1, is the holding to end: a
// later one stays. It reports whether the lease was held.
func (fl *folderLeases) lose(folder string, gen int, cause error) bool {
	fl.mu.Lock()
	if !fl.held[folder] || gen >= 0 && gen != fl.gen[folder] {
		fl.mu.Unlock()
		return false
	}
	fl.held[folder] = false
	fl.gen[folder]++
	if fl.session != nil {
		fl.session(cause)
	}
	fl.mu.Unlock()
	if fl.opts.Observer != nil {
		fl.opts.Observer.LeaseHeld(false)
	}
	return true
}

// holds reports whether folder's lease is held.
func (fl *folderLeases) holds(folder string) bool {
	if fl == nil {
		return true
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.held[folder]
}

// heldCount is how many of the folders' leases are held.
func (fl *folderLeases) heldCount() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	n := 0
	for _, h := range fl.held {
		if h {
			n++
		}
	}
	return n
}

// gainedChan is closed when a lease is next gained.
func (fl *folderLeases) gainedChan() <-chan struct{} {
	if fl == nil {
		return nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.gained
}

// waitHeld waits until some folder's lease is held; false when ctx ended
// first.
func (fl *folderLeases) waitHeld(ctx context.Context) bool {
	for {
		ch := fl.gainedChan()
		if fl.heldCount() > 0 {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// sessionContext returns the context of a session: losing any lease
// cancels it with a cause wrapping ErrLeaseLost. The caller calls stop when
// the session ends.
func (fl *folderLeases) sessionContext(ctx context.Context) (sctx context.Context, stop func()) {
	if fl == nil {
		return ctx, func() {}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	fl.mu.Lock()
	fl.session = cancel
	fl.mu.Unlock()
	return sctx, func() {
		fl.mu.Lock()
		fl.session = nil
		fl.mu.Unlock()
		cancel(nil)
	}
}

// heldElsewhere describes why no folder's lease is held: other replicas
// hold them (ErrLeaseHeld), or the attempts failed.
func (fl *folderLeases) heldElsewhere() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if len(fl.failed) > 0 {
		var errs []error
		for _, err := range fl.failed {
			errs = append(errs, err)
		}
		return fmt.Errorf("ingest: mailbox %q: no folder's lease could be acquired: %w", fl.mailbox, errors.Join(errs...))
	}
	var parts []string
	for f, l := range fl.others {
		parts = append(parts, fmt.Sprintf("folder %s by replica %s (lease until %s)", f, l.Holder, l.Expires.Format(time.RFC3339)))
	}
	slices.Sort(parts)
	return fmt.Errorf("ingest: mailbox %q: %w: %s", fl.mailbox, ErrLeaseHeld, strings.Join(parts, "; "))
}

// leaseLost returns ctx's cause when ctx was cancelled because a lease was
// lost: then no more mail may be moved, not even the work in hand.
func leaseLost(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) {
		return cause
	}
	return nil
}
