package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/remind"
	"github.com/claimtrail/claimtrail/rules"
	"github.com/claimtrail/claimtrail/web"
)

const runUsage = `usage: claimtrail run --config FILE [--once] [--listen ADDR] [--no-web] [--replica-id ID]

Polls every configured mailbox around the clock: each new message is judged,
stored as an evidence bundle, attached to its claims and moved to the folder
of its verdict. The analysts' web app is served alongside (--no-web to turn
it off). The audit trail's head is anchored in the object store every few
minutes and at shutdown. A change of the tenant registry (an import in the
web app or with claimtrail tenants import, an edit of tenants_file) is
picked up within seconds, no restart. SIGINT/SIGTERM stop it cleanly: the messages in hand
are finished first.

Deadline reminders (the reminders: section) are sent by a loop of their
own, every reminders.every; a failing channel never holds up the mail.

With --once it handles the mail that is there now, sends one round of
reminders, prints a summary and exits (for cron and for tests).

Several replicas may share one ledger and one store: each mailbox folder is
polled by the replica that holds its lease in the ledger, renewed every
third of --lease-ttl. When that replica dies, another takes the folder over
within --lease-ttl + --lease-retry; a clean stop hands it over at once.
Replicas need clocks kept in step (NTP). The jobs to be done once, not by
every replica (reminders, anchoring, expiring claims, the Service Health
refresh), run each on the replica holding the job's lease, taken over the
same way. With --once, a folder or job another replica holds is skipped,
and said so.

Exit status: 0 on a clean stop; 1 when a mailbox failed for good (bad
credentials, a missing folder) or the store or ledger failed; 2 for bad usage
or configuration.

flags:
`

// Defaults of the run loop.
const (
	// memoryBytes: mail up to this size is held in memory between fetch
	// and store, larger mail is spooled to a temp file; either way it is
	// read off the connection whole before it is processed. A fetch holds
	// at most fetchBytes, and the mail waiting for the workers as much
	// again. It is the largest bundle built in
	// memory: a spool file costs a create, a write, two reads, a second
	// SHA-256 and an unlink. In the ingest benchmark (4,000 mails, runs
	// alternated) 4 MiB took claimtrail's CPU from 2.75-2.96 ms/mail
	// (256 KiB) to 2.30-2.37, and its peak RSS from about 210 MB to
	// 251-259.
	memoryBytes = ingest.MemoryBundleBytes
	// fetchBytes bounds the mail one body fetch holds in memory, and the
	// mail waiting for the workers or in their hands as much again
	// (ingest.IMAPOptions.BatchBytes; a single larger message is fetched
	// alone). Together they were most of the live heap: in the ingest
	// benchmark (3,000 mails) claimtrail's peak RSS was 187 MB at the
	// package's 64 MiB, 109-115 MB at 16 MiB and 84-85 MB at 8 MiB, at
	// the same mails/s within the machine's noise. 8 MiB is still some
	// 60 mails of the benchmark's mix, 140 ms of the workers' work at
	// 400 mails/s.
	fetchBytes = 8 << 20
	// defaultWorkers: a worker spends much of a message waiting for the
	// store (each MinIO PUT waits for its fsync), the ledger and, with
	// DKIM on, DNS, so more workers than CPUs keep the CPUs busy. In the
	// ingest benchmark on 2 vCPUs (10,000 mails, runs alternated), 8
	// workers reached 180 and 199 mails/s with the machine 84 % busy, 16
	// reached 193 to 207 (85-86 % busy; peak RSS 214-248 MB against
	// 150-160); 24 and 32 no more than 16, in 300-390 MB.
	defaultWorkers = 16
	// commitDelay: under load, ledger transactions start at least this
	// far apart, and the writes that come meanwhile share them
	// (archive.Ledger.SetCommitDelay). The workers do not wait for their
	// records' commits; only the moves do. In the ingest benchmark (2,000
	// mails) 2,011 writes took 951 to 1,019 transactions without it, 430
	// at 20 ms, 152 to 273 at 40 ms.
	commitDelay        = 40 * time.Millisecond
	defaultAnchorEvery = 5 * time.Minute
	expireEvery        = time.Hour
)

func runRun(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "the configuration `file`")
	once := fs.Bool("once", false, "handle the mail that is there now, then exit")
	listen := fs.String("listen", "", "serve the web app on this `address` (default web.listen, "+web.DefaultListen+")")
	noWeb := fs.Bool("no-web", false, "do not serve the web app")
	workers := fs.Int("workers", defaultWorkers, "messages processed at once per mailbox")
	anchorEvery := fs.Duration("anchor-every", defaultAnchorEvery, "how often the audit trail's head is anchored in the store")
	registryEvery := fs.Duration("registry-every", defaultRegistryEvery, "how often the tenant registry (the ledger's and tenants_file) is checked for changes")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	replica := fs.String("replica-id", "", "this replica's name in the folders' leases (default replica.id, else host-pid-random)")
	leaseTTL := fs.Duration("lease-ttl", 0, "how long a folder's lease lasts unless renewed (default replica.lease_ttl, else "+ingest.DefaultLeaseTTL.String()+")")
	leaseRetry := fs.Duration("lease-retry", 0, "how often the leases other replicas hold are tried (default replica.lease_retry, else "+ingest.DefaultLeaseRetry.String()+")")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		e.errorf("run: unexpected argument %q; see claimtrail run -h", fs.Arg(0))
		return exitUsage
	case *configPath == "":
		e.errorf("run: --config is missing; name the configuration file, e.g. --config claimtrail.yaml")
		return exitUsage
	case *workers < 1 || *workers > 64:
		e.errorf("run: --workers %d: give a number from 1 to 64", *workers)
		return exitUsage
	case *anchorEvery < time.Second:
		e.errorf("run: --anchor-every %s: give at least 1s", *anchorEvery)
		return exitUsage
	case *registryEvery <= 0:
		e.errorf("run: --registry-every %s: give a positive duration, e.g. 2s", *registryEvery)
		return exitUsage
	case *leaseTTL != 0 && *leaseTTL < time.Second:
		e.errorf("run: --lease-ttl %s: give at least 1s, e.g. 20s", *leaseTTL)
		return exitUsage
	case *leaseRetry < 0:
		e.errorf("run: --lease-retry %s: give a positive duration, e.g. 5s", *leaseRetry)
		return exitUsage
	case strings.TrimSpace(*replica) != *replica:
		e.errorf("run: --replica-id %q: give a name without surrounding blanks", *replica)
		return exitUsage
	}
	log := newLogger(e, *logJSON)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	if len(cfg.Mailboxes) == 0 {
		e.errorf("run: %s configures no mailboxes; add a mailboxes: section, or import files with claimtrail import", *configPath)
		return exitUsage
	}
	rc := cfg.Replica.WithDefaults()
	if *replica != "" {
		rc.ID = *replica
	}
	if *leaseTTL != 0 {
		rc.LeaseTTL = *leaseTTL
	}
	if *leaseRetry != 0 {
		rc.LeaseRetry = *leaseRetry
	}
	rc.ID = replicaID(rc.ID)
	webCfg := cfg.Web
	if *listen != "" {
		webCfg.Listen = *listen
		if err := webCfg.Validate(); err != nil {
			e.errorf("run: --listen %s: %v", *listen, err)
			return exitUsage
		}
	}
	st, err := openState(ctx, cfg, log)
	if err != nil {
		e.errorf("run: %v", err)
		return exitFail
	}
	defer st.close()
	st.ledger.SetCommitDelay(commitDelay)
	// A spool directory of our own: the next run removes what a killed one
	// left there.
	spool, err := ingest.OpenSpoolDir("", log)
	if err != nil {
		e.errorf("run: %v", err)
		return exitFail
	}
	defer spool.Close()

	// Service Health: Graph when configured; notification mails always.
	var graph *ingest.GraphClient
	if cfg.ServiceHealth.On() {
		if graph, err = graphClient(cfg); err != nil {
			e.errorf("run: %v", err)
			return exitUsage
		}
	}
	syncer := newSyncer(cfg, st, graph, log)

	r := &runner{st: st, log: log, metrics: web.NewMetrics(), counts: &verdictCounts{}}
	pipe := ingest.NewPipeline(st.policy, st.store, st.ledger, &ingest.PipelineOptions{
		Resolver:  cfg.DKIM.resolver(),
		SpoolDir:  spool.Path(),
		Logger:    log,
		Observer:  observers{r.metrics, r.counts},
		Incidents: syncer,
	})
	r.pipe = pipe

	// Every run takes the folders' leases, alone or not, so that a
	// replica can be added at any time.
	leases := &ingest.LeaseOptions{Store: st.ledger, Holder: rc.ID, TTL: rc.LeaseTTL, Retry: rc.LeaseRetry, Observer: r.metrics}
	r.leases = *leases
	log.Info("replica", "replica", rc.ID, "lease_ttl", rc.LeaseTTL.String(), "lease_retry", rc.LeaseRetry.String())
	var sources []*ingest.IMAPSource
	for _, m := range cfg.Mailboxes {
		src, err := ingest.NewIMAPSource(m, pipe, &ingest.IMAPOptions{Logger: log, Workers: *workers, SpoolDir: spool.Path(),
			MemoryBytes: memoryBytes, BatchBytes: fetchBytes, Leases: leases})
		if err != nil {
			e.errorf("run: %v", err)
			return exitUsage
		}
		sources = append(sources, src)
	}

	reminders := newReminders(cfg, webCfg, st, r.metrics, log)
	if *once {
		failed := r.pollAll(ctx, sources, true)
		if reminders != nil {
			r.jobOnce(ctx, jobReminders, func(ctx context.Context) { reminders.Round(ctx) })
		}
		r.jobOnce(context.WithoutCancel(ctx), jobAnchor, r.anchor)
		for _, held := range r.heldElsewhere() {
			fmt.Fprintf(e.stdout, "skipped: %s\n", held)
		}
		fmt.Fprintf(e.stdout, "%s\n", r.counts)
		if failed > 0 {
			return exitFail
		}
		return exitOK
	}

	// Around the clock: the sources, the web app, and the housekeeping.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	webErr := make(chan error, 1)
	if !*noWeb {
		app, err := web.New(web.Options{Ledger: st.ledger, Store: st.store, Logger: log, Rules: cfg.Rules,
			Rejudge: webRejudge(pipe), Config: webCfg.WithDefaults(), Metrics: r.metrics})
		if err != nil {
			e.errorf("run: %v", err)
			return exitFail
		}
		ln, err := net.Listen("tcp", webCfg.WithDefaults().Listen)
		if err != nil {
			e.errorf("run: web app: %v; choose another address with --listen, or --no-web", err)
			return exitFail
		}
		if n, err := st.ledger.UserCount(ctx); err == nil && n == 0 {
			log.Warn("the web app has no users yet; add one: claimtrail users --config " + *configPath + " add NAME --role admin")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			webErr <- serveHTTP(runCtx, ln, app.Handler(), log)
		}()
	}
	// The jobs that must happen once per installation run on the replica
	// holding each one's lease.
	r.jobs(runCtx, &wg, jobAnchor, *anchorEvery, false, r.anchor)
	r.jobs(runCtx, &wg, jobExpire, expireEvery, true, r.expire)
	// The tenant registry is live: mail is judged with it as it is now.
	watch := &registryWatch{st: st, cfg: cfg, pipe: pipe, log: log}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watch.run(runCtx, *registryEvery)
	}()

	if reminders != nil {
		r.jobs(runCtx, &wg, jobReminders, cfg.Reminders.WithDefaults().Every, true, func(ctx context.Context) { reminders.Round(ctx) })
	}

	if graph != nil {
		refresh := &healthRefresh{syncer: syncer, log: log}
		r.jobs(runCtx, &wg, jobServiceHealth, healthRefreshEvery(&cfg.ServiceHealth), true, refresh.once)
	}

	failed := r.pollAll(runCtx, sources, false)
	if failed == len(sources) && ctx.Err() == nil {
		log.Error("every mailbox has stopped; fix the errors above and start again")
	}
	stop()
	wg.Wait()
	// The last word at shutdown, unless another replica anchors: it holds
	// the job, and anchors this replica's last entries in its next round.
	r.jobOnce(context.WithoutCancel(ctx), jobAnchor, r.anchor)
	log.Info("claimtrail stopped", "handled", r.counts.String())
	select {
	case err := <-webErr:
		if err != nil {
			e.errorf("run: web app: %v", err)
			return exitFail
		}
	default:
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// runner holds what the run loop shares between its goroutines.
type runner struct {
	st      *state
	log     *slog.Logger
	metrics *web.Metrics
	counts  *verdictCounts
	pipe    *ingest.Pipeline
	leases  ingest.LeaseOptions // of the jobs, as of the folders

	mu   sync.Mutex
	held []string // of run --once: mailboxes other replicas poll, jobs they run
}

// jobs runs job's rounds, every interval (the first at once when atOnce),
// in a goroutine of wg, while this replica holds the job's lease, until
// ctx ends.
func (r *runner) jobs(ctx context.Context, wg *sync.WaitGroup, job string, every time.Duration, atOnce bool, round func(context.Context)) {
	s := newSingleton(job, r.leases, r.log)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.run(ctx, every, atOnce, round)
	}()
}

// jobOnce runs one round of job unless another replica holds its lease;
// then run --once says so.
func (r *runner) jobOnce(ctx context.Context, job string, round func(context.Context)) {
	other, err := newSingleton(job, r.leases, r.log).once(ctx, round)
	if err != nil {
		r.log.Error("job not run, or cut short: its lease could not be held", "job", job, "err", err)
		return
	}
	if other.Holder != "" {
		r.mu.Lock()
		r.held = append(r.held, fmt.Sprintf("job %s: run by replica %s (lease until %s)", job, other.Holder, other.Expires.Format(time.RFC3339)))
		r.mu.Unlock()
	}
}

// heldElsewhere lists the mailboxes and jobs a run --once skipped because
// other replicas hold them.
func (r *runner) heldElsewhere() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.held))
}

// pollAll runs every source until ctx ends (or, once, until each has
// handled what is there) and returns how many stopped with an error.
func (r *runner) pollAll(ctx context.Context, sources []*ingest.IMAPSource, once bool) int {
	var failed atomic.Int32
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if once {
				err = src.RunOnce(ctx, r.pipe)
			} else {
				err = src.Run(ctx, r.pipe)
			}
			if errors.Is(err, ingest.ErrLeaseHeld) {
				// Not a failure: another replica is on it.
				r.log.Warn("mailbox skipped: another replica polls it", "mailbox", src.Name(), "err", err)
				r.mu.Lock()
				r.held = append(r.held, strings.TrimPrefix(err.Error(), "ingest: "))
				r.mu.Unlock()
				return
			}
			if err != nil && ctx.Err() == nil {
				failed.Add(1)
				r.log.Error("mailbox stopped", "mailbox", src.Name(), "err", err)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// newReminders is the reminder loop of cfg's reminders section, nil when
// it configures no channel.
func newReminders(cfg *Config, webCfg web.Config, st *state, metrics *web.Metrics, log *slog.Logger) *remind.Loop {
	rc := cfg.Reminders.WithDefaults()
	if !rc.On() {
		return nil
	}
	chans := remind.Channels(rc)
	names := make([]string, len(chans))
	for i, ch := range chans {
		names[i] = ch.Name()
	}
	metrics.ReminderChannels(names...)
	log.Info("reminders on", "channels", names, "days", rc.Days, "every", rc.Every)
	return remind.New(st.ledger, remind.Options{Days: rc.Days, Channels: chans, Observer: metrics, Logger: log,
		BaseURL: webCfg.WithDefaults().BaseURL})
}

func (r *runner) anchor(ctx context.Context) {
	if err := anchorOnce(ctx, r.st); err != nil {
		r.log.Error("audit trail not anchored; it will be tried again", "err", err)
	}
}

func (r *runner) expire(ctx context.Context) {
	ids, err := r.st.ledger.ExpireClaims(ctx, time.Now())
	if err != nil {
		r.log.Error("claims not checked for expiry", "err", err)
		return
	}
	if len(ids) > 0 {
		r.log.Warn("claims expired: their deadline passed before they were submitted", "claims", ids)
	}
}

// verdictCounts counts the messages handled, by verdict.
type verdictCounts struct {
	mu sync.Mutex
	n  map[rules.Verdict]int
}

func (c *verdictCounts) ObserveJudge(time.Duration) {}

func (c *verdictCounts) Judged(v rules.Verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[rules.Verdict]int{}
	}
	c.n[v]++
}

// String reads "3 messages: 2 accepted, 1 rejected".
func (c *verdictCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	var parts []string
	for _, v := range []rules.Verdict{rules.Accepted, rules.Rejected, rules.Unmatched} {
		if n := c.n[v]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	if total == 0 {
		return "0 messages"
	}
	return fmt.Sprintf("%s: %s", plural(total, "message"), strings.Join(parts, ", "))
}

// observers tells several observers.
type observers []ingest.Observer

func (o observers) ObserveJudge(d time.Duration) {
	for _, x := range o {
		x.ObserveJudge(d)
	}
}

func (o observers) Judged(v rules.Verdict) {
	for _, x := range o {
		x.Judged(v)
	}
}

// newLogger is the process's logger: text or JSON lines on stderr.
func newLogger(e *env, asJSON bool) *slog.Logger {
	if asJSON {
		return slog.New(slog.NewJSONHandler(e.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(e.stderr, nil))
}

// anchorStore is checked here so a store that stops fitting the ledger's
// anchor interface fails the build, not a run.
var _ archive.AnchorStore = archive.Store(nil)
