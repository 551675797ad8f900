package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
	"github.com/claimtrail/claimtrail/remind"
)

// mortalLeases is a replica's hold on the lease table that can die: once
// killed, every call fails, as for a replica SIGKILLed or cut off from
// the ledger (it neither renews nor releases).
type mortalLeases struct {
	l    *archive.Ledger
	dead atomic.Bool
}

var errDead = errors.New("replica dead")

func (m *mortalLeases) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (archive.Lease, error) {
	if m.dead.Load() {
		return archive.Lease{}, errDead
	}
	return m.l.AcquireLease(ctx, name, holder, ttl)
}

func (m *mortalLeases) ReleaseLease(ctx context.Context, name, holder string) error {
	if m.dead.Load() {
		return errDead
	}
	return m.l.ReleaseLease(ctx, name, holder)
}

// heldGauge counts leases held, as claimtrail_leases_held does.
type heldGauge struct{ n atomic.Int64 }

func (g *heldGauge) LeaseHeld(held bool) {
	if held {
		g.n.Add(1)
	} else {
		g.n.Add(-1)
	}
}

// jobReplica is one replica's jobs: the reminders, sent to a webhook, and
// the anchoring, each counting its rounds.
type jobReplica struct {
	id      string
	leases  *mortalLeases
	gauge   heldGauge
	rounds  map[string]*atomic.Int64 // by job
	stopped chan struct{}
}

// Two replicas on one ledger: a due reminder goes out once, not once per
// replica; the anchor and reminder rounds run on one replica only; when
// that replica dies (its lease neither renewed nor released) the other
// takes the jobs over once the leases expire, and the takeover is audited.
func TestJobsRunOnOneReplica(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	seedDueClaims(t, path, "EX200001", "EX200002")
	store, err := archive.OpenDir(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	hook := &hookReceiver{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)

	const ttl = time.Second
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	replicas := map[string]*jobReplica{}
	for _, id := range []string{"a", "b"} {
		l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		r := &jobReplica{id: id, leases: &mortalLeases{l: l}, rounds: map[string]*atomic.Int64{jobReminders: {}, jobAnchor: {}}, stopped: make(chan struct{})}
		replicas[id] = r
		opts := ingest.LeaseOptions{Store: r.leases, Holder: id, TTL: ttl, Retry: 50 * time.Millisecond, Observer: &r.gauge}
		loop := remind.New(l, remind.Options{Days: []int{7, 3, 1}, Channels: []remind.Channel{remind.NewWebhook(ingest.Secret(srv.URL), nil)}, Attempts: 1})
		jobs := map[string]func(context.Context){
			jobReminders: func(ctx context.Context) { loop.Round(ctx) },
			jobAnchor: func(ctx context.Context) {
				if _, err := l.Anchor(ctx, store); err != nil && ctx.Err() == nil {
					t.Errorf("replica %s: Anchor: %v", id, err)
				}
			},
		}
		var wg sync.WaitGroup
		for job, round := range jobs {
			s := newSingleton(job, opts, slog.New(slog.DiscardHandler))
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.run(runCtx, 20*time.Millisecond, true, func(ctx context.Context) {
					r.rounds[job].Add(1)
					round(ctx)
				})
			}()
		}
		go func() {
			wg.Wait()
			close(r.stopped)
		}()
	}
	ledger := replicas["a"].leases.l
	holderOf := func(job string) string {
		lease, err := ledger.Lease(ctx, jobLeaseName(job))
		if err != nil {
			return ""
		}
		return lease.Holder
	}
	total := func(job string) int64 { return replicas["a"].rounds[job].Load() + replicas["b"].rounds[job].Load() }
	wait := func(what string, cond func() bool) {
		t.Helper()
		if err := waitFor(30*time.Second, cond); err != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
	}

	wait("20 rounds of each job", func() bool { return total(jobReminders) >= 20 && total(jobAnchor) >= 20 })
	for _, job := range []string{jobReminders, jobAnchor} {
		holder := holderOf(job)
		for id, r := range replicas {
			if n := r.rounds[job].Load(); id != holder && n != 0 {
				t.Errorf("replica %s ran %d rounds of %s, held by %q; want none", id, n, job, holder)
			}
		}
	}
	for _, inc := range []string{"EX200001", "EX200002"} {
		if n := hook.count(`"incident_id":"` + inc + `"`); n != 1 {
			t.Errorf("%s: the webhook got %d reminders over %d rounds, want 1", inc, n, total(jobReminders))
		}
	}
	if got := replicas["a"].gauge.n.Load() + replicas["b"].gauge.n.Load(); got != 2 {
		t.Errorf("the replicas hold %d job leases between them, want 2", got)
	}

	// The reminders' holder dies; the other takes its jobs over.
	victim := replicas[holderOf(jobReminders)]
	other := replicas[map[string]string{"a": "b", "b": "a"}[victim.id]]
	var victims []string // the jobs it held
	for _, job := range []string{jobReminders, jobAnchor} {
		if holderOf(job) == victim.id {
			victims = append(victims, job)
		}
	}
	victim.leases.dead.Store(true)
	before := other.rounds[jobReminders].Load()
	wait("the other replica to take the reminders over", func() bool {
		return holderOf(jobReminders) == other.id && holderOf(jobAnchor) == other.id && other.rounds[jobReminders].Load() > before+5
	})
	// Its rounds stopped when its renewal failed, before its lease expired:
	// none while the survivor runs its next ones.
	dead := map[string]int64{}
	for job, n := range victim.rounds {
		dead[job] = n.Load()
	}
	more := other.rounds[jobAnchor].Load() + 5
	wait("5 more anchor rounds", func() bool { return other.rounds[jobAnchor].Load() > more })
	for job, n := range victim.rounds {
		if got := n.Load(); got != dead[job] {
			t.Errorf("the dead replica ran %d more rounds of %s after the takeover, want none", got-dead[job], job)
		}
	}
	if n := hook.count(`"incident_id":"EX200001"`) + hook.count(`"incident_id":"EX200002"`); n != 2 {
		t.Errorf("after the takeover the webhook got %d reminders, want still 2", n)
	}
	entries, err := ledger.AuditEntries(ctx, archive.AuditFilter{Actions: []archive.Action{archive.ActionLeaseTakenOver}})
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{}
	for _, e := range entries {
		if strings.Contains(string(e.Details), `"previous_holder":"`+victim.id+`"`) {
			taken[e.Subject] = true
		}
	}
	for _, job := range victims {
		if !taken["lease:"+jobLeaseName(job)] {
			t.Errorf("no lease_taken_over audit entry for %s from %s: %v", job, victim.id, taken)
		}
	}

	// A clean stop releases the survivor's leases.
	stop()
	for _, r := range replicas {
		<-r.stopped
	}
	for _, job := range []string{jobReminders, jobAnchor} {
		if h := holderOf(job); h != "" {
			t.Errorf("after the stop %s is held by %s, want released", job, h)
		}
	}
	if n := other.gauge.n.Load(); n != 0 {
		t.Errorf("after the stop the survivor counts %d leases held, want 0", n)
	}
}

// seedDueClaims writes open claims whose deadline is 5 days off into the
// ledger at path, made if new, as TestRunReminders does: each owes a
// reminder.
func seedDueClaims(t *testing.T, path string, incidents ...string) {
	t.Helper()
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Replicas may be writing: wait for them.
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	for _, inc := range incidents {
		if _, err := db.Exec(`INSERT INTO claims (tenant_id, incident_id, status, deadline, created_at, updated_at, eligible)
			VALUES ('0d7f3c2a-5b1e-4f6a-8c9d-2e4b6a8c0f13', ?, 'open', ?, ?, ?, 1)`, inc,
			now.Add(5*24*time.Hour).Format("2006-01-02T15:04:05.000000000Z07:00"), now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
	}
}

// newJobsSetup is the ground of the jobs' tests with real processes: a
// Dovecot mailbox, a webhook receiver for the reminders, a configuration
// of both, and a ledger at path with a claim of EX200001 due, open as l.
func newJobsSetup(t *testing.T) (hook *hookReceiver, cfg, path string, l *archive.Ledger) {
	t.Helper()
	d := ingesttest.StartDovecot(t)
	user := ingesttest.DefaultUser
	hook = &hookReceiver{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg = writeRunConfig(t, dir, fmt.Sprintf("mailboxes:\n  - name: shared\n    host: %s\n    port: %d\n    security: insecure\n    username: %s\n    password: %q\nreminders:\n  webhook_url: %s\n",
		d.Host, d.Port, user, d.Password(user), srv.URL))
	path = filepath.Join(dir, "ledger.db")
	seedDueClaims(t, path, "EX200001")
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return hook, cfg, path, l
}

// run --once leaves the reminders and the anchoring to the replica that
// holds their leases, says so, and does them once the leases are released.
func TestRunOnceSkipsJobsOfAnotherReplica(t *testing.T) {
	hook, cfg, _, l := newJobsSetup(t)
	ctx := context.Background()
	// Something to anchor.
	if _, err := l.AcquireLease(ctx, "imap:unrelated/INBOX", "x", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AcquireLease(ctx, "imap:unrelated/INBOX", "y", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{jobReminders, jobAnchor} {
		if got, err := l.AcquireLease(ctx, jobLeaseName(job), "other-replica", time.Hour); err != nil || !got.Held {
			t.Fatalf("AcquireLease(%s, other-replica) = %+v, %v", job, got, err)
		}
	}

	code, out, errOut := runCLI(t, "run", "--config", cfg, "--once")
	for _, want := range []string{"skipped: job anchor: run by replica other-replica (lease until ", "skipped: job reminders: run by replica other-replica (lease until "} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("run --once with the jobs leased elsewhere: exit %d, printed %q (%s); want 0 and %q", code, out, errOut, want)
		}
	}
	anchors, err := l.Anchors(ctx)
	if n := hook.count("EX200001"); n != 0 || err != nil || len(anchors) != 0 {
		t.Errorf("run --once with the jobs leased elsewhere sent %d reminders and wrote anchors %v (%v); want none", n, anchors, err)
	}

	for _, job := range []string{jobReminders, jobAnchor} {
		if err := l.ReleaseLease(ctx, jobLeaseName(job), "other-replica"); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := runCLI(t, "run", "--config", cfg, "--once"); code != exitOK || strings.Contains(out, "skipped") {
		t.Errorf("run --once after the release: exit %d, printed %q (%s); want 0 and nothing skipped", code, out, errOut)
	}
	anchors, err = l.Anchors(ctx)
	if n := hook.count("EX200001"); n != 1 || err != nil || len(anchors) != 1 {
		t.Errorf("run --once after the release sent %d reminders and wrote anchors %v (%v); want 1 and 1", n, anchors, err)
	}
	for _, job := range []string{jobReminders, jobAnchor} {
		if _, err := l.Lease(ctx, jobLeaseName(job)); !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("after run --once the lease of %s is %v, want it released", job, err)
		}
	}
}

// Two `claimtrail run` processes on one ledger: a due reminder is sent by
// one of them, once; when that one is killed (SIGKILL) the other takes
// the reminders over, sends what came due, and nothing again.
func TestReplicasSendRemindersOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two replicas of the real binary through a takeover")
	}
	bin := buildClaimtrail(t)
	hook, cfg, path, l := newJobsSetup(t)
	ctx := context.Background()
	p := &pollerSetup{tmp: t.TempDir()}
	replicas := map[string]*child{}
	for _, id := range []string{"a", "b"} {
		replicas[id] = p.start(t, bin, "run", "--config", cfg, "--no-web", "--replica-id", id, "--lease-ttl", "2s", "--lease-retry", "200ms")
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		if err := waitFor(time.Minute, cond); err != nil {
			for id, c := range replicas {
				t.Logf("replica %s:\n%s", id, tail(c.stderr.String(), 20))
			}
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	holder := func() string {
		lease, err := l.Lease(ctx, jobLeaseName(jobReminders))
		if err != nil {
			return ""
		}
		return lease.Holder
	}
	standingBy := func(id string) bool {
		return strings.Contains(replicas[id].stderr.String(), `msg="job run by another replica; standing by" job=reminders`)
	}
	wait("the reminder, and the other replica standing by", func() bool {
		h := holder()
		other := map[string]string{"a": "b", "b": "a"}[h]
		return hook.count("EX200001") > 0 && other != "" && standingBy(other)
	})
	if n := hook.count("EX200001"); n != 1 {
		t.Errorf("two replicas sent EX200001's reminder %d times, want once", n)
	}
	// Sent and recorded: a holder killed between the two would leave it
	// to be sent again, as a crash of a single replica does.
	wait("the reminder to be recorded", func() bool {
		due, err := l.DueReminders(ctx, "webhook", claims.DefaultReminderDays, time.Now())
		return err == nil && len(due) == 0
	})

	// A claim comes due between the holder's rounds (reminders.every
	// apart, 15 minutes by default), and the holder dies before its next.
	seedDueClaims(t, path, "EX200002")
	victim := holder()
	survivor := map[string]string{"a": "b", "b": "a"}[victim]
	replicas[victim].kill()
	wait("the other replica to take the reminders over and send the new one", func() bool {
		return holder() == survivor && hook.count("EX200002") > 0
	})
	replicas[survivor].stop(t)
	if n, m := hook.count("EX200001"), hook.count("EX200002"); n != 1 || m != 1 {
		t.Errorf("after the takeover the reminders went out %d and %d times, want once each", n, m)
	}
}
