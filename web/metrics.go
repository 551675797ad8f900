package web

import (
	"context"
	"errors"
	"github.com/claimtrail/claimtrail/claims"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// Metrics is claimtrail's Prometheus registry: the web app serves it at
// /metrics, and the poller feeds it through its methods. All methods are
// safe for concurrent use; a nil *Metrics ignores every call, so the poller
// need not check.
type Metrics struct {
	reg        *prometheus.Registry
	fetch      prometheus.Histogram
	judge      prometheus.Histogram
	reconnects prometheus.Counter
	backlog    *prometheus.GaugeVec
	judged     *prometheus.CounterVec
	remSent    *prometheus.CounterVec
	remFailed  *prometheus.CounterVec
	leases     prometheus.Gauge
	handler    http.Handler
	once       sync.Once
}

// NewMetrics returns a registry with claimtrail's metrics and the Go
// runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	// Fetching one mail from Dovecot takes well under a millisecond,
	// from Exchange Online tens of milliseconds; buckets span both.
	buckets := prometheus.ExponentialBuckets(0.0005, 2.5, 12)
	m.fetch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "claimtrail_fetch_seconds", Help: "Time to fetch one message from the mailbox.", Buckets: buckets})
	m.judge = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "claimtrail_judge_seconds", Help: "Time to parse and judge one message.", Buckets: buckets})
	m.reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "claimtrail_imap_reconnects_total", Help: "IMAP connections made again after a failure."})
	m.backlog = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "claimtrail_backlog_messages", Help: "Messages waiting in a mailbox folder."}, []string{"mailbox", "folder"})
	m.judged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claimtrail_judged_total", Help: "Messages judged by this process, by verdict."}, []string{"verdict"})
	m.remSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claimtrail_reminders_sent_total", Help: "Deadline reminders sent by this process, by channel."}, []string{"channel"})
	m.remFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claimtrail_reminder_failures_total",
		Help: "Deadline reminders that failed every attempt of a round, by channel; each is tried again the next round."}, []string{"channel"})
	m.leases = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "claimtrail_leases_held",
		Help: "Leases this replica holds: of mailbox folders it polls, and of jobs it runs (job:reminders, job:anchor, job:expire-claims, job:service-health); with several replicas they add up to the folders and jobs configured."})
	m.reg.MustRegister(m.fetch, m.judge, m.reconnects, m.backlog, m.judged, m.remSent, m.remFailed, m.leases,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// ObserveFetch records how long fetching one message took.
func (m *Metrics) ObserveFetch(d time.Duration) {
	if m != nil {
		m.fetch.Observe(d.Seconds())
	}
}

// ObserveJudge records how long parsing and judging one message took.
func (m *Metrics) ObserveJudge(d time.Duration) {
	if m != nil {
		m.judge.Observe(d.Seconds())
	}
}

// Judged counts one message judged with verdict v.
func (m *Metrics) Judged(v rules.Verdict) {
	if m != nil {
		m.judged.WithLabelValues(string(v)).Inc()
	}
}

// IMAPReconnect counts one reconnection to the mailbox.
func (m *Metrics) IMAPReconnect() {
	if m != nil {
		m.reconnects.Inc()
	}
}

// SetBacklog records how many messages wait in a mailbox's folder.
func (m *Metrics) SetBacklog(mailbox, folder string, n int) {
	if m != nil {
		m.backlog.WithLabelValues(mailbox, folder).Set(float64(n))
	}
}

// LeaseHeld counts a lease, a folder's or a job's, gained (held) or lost.
func (m *Metrics) LeaseHeld(held bool) {
	if m == nil {
		return
	}
	if held {
		m.leases.Inc()
	} else {
		m.leases.Dec()
	}
}

// ReminderChannels makes the reminder counters of the channels named
// start at 0, so that an alert on their increase sees them from the start.
func (m *Metrics) ReminderChannels(names ...string) {
	if m != nil {
		for _, n := range names {
			m.remSent.WithLabelValues(n)
			m.remFailed.WithLabelValues(n)
		}
	}
}

// ReminderSent counts one reminder sent on channel.
func (m *Metrics) ReminderSent(channel string) {
	if m != nil {
		m.remSent.WithLabelValues(channel).Inc()
	}
}

// ReminderFailed counts one reminder that failed on channel.
func (m *Metrics) ReminderFailed(channel string) {
	if m != nil {
		m.remFailed.WithLabelValues(channel).Inc()
	}
}

// Registry returns the underlying registry, to register more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// watch adds the ledger's counts, read at each scrape with the clock now,
// once.
func (m *Metrics) watch(l Ledger, now func() time.Time) {
	m.once.Do(func() { m.reg.MustRegister(&ledgerCollector{ledger: l, now: now}) })
}

// ledgerCollector reports the ledger's state at scrape time.
type ledgerCollector struct {
	ledger Ledger
	now    func() time.Time
}

var (
	claimsDesc = prometheus.NewDesc("claimtrail_claims", "Claims in the ledger, by status.", []string{"status"}, nil)
	// messagesDesc counts messages by their current verdict.
	messagesDesc = prometheus.NewDesc("claimtrail_messages", "Judged messages in the ledger, by current verdict.", []string{"verdict"}, nil)
	// urgentDesc counts the claims an alert should watch (claims.Urgency).
	urgentDesc = prometheus.NewDesc("claimtrail_claims_urgent",
		"Eligible claims not yet filed whose deadline passed (urgency overdue) or comes within 7 days (urgency soon).", []string{"urgency"}, nil)
	upDesc = prometheus.NewDesc("claimtrail_ledger_up", "Whether the ledger could be read at the last scrape.", nil, nil)
)

// scrapeTimeout bounds the ledger queries of one scrape.
const scrapeTimeout = 10 * time.Second

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- claimsDesc
	ch <- messagesDesc
	ch <- urgentDesc
	ch <- upDesc
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	byStatus, err := c.ledger.ClaimCounts(ctx)
	var verdicts map[rules.Verdict]int
	if err == nil {
		verdicts, err = c.ledger.MessageCounts(ctx)
	}
	var tally archive.ClaimTally
	if err == nil {
		tally, err = c.ledger.ClaimTally(ctx, archive.ClaimFilter{}, c.now())
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	for _, st := range claims.Statuses() {
		ch <- prometheus.MustNewConstMetric(claimsDesc, prometheus.GaugeValue, float64(byStatus[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(urgentDesc, prometheus.GaugeValue, float64(tally.Overdue), "overdue")
	ch <- prometheus.MustNewConstMetric(urgentDesc, prometheus.GaugeValue, float64(tally.Soon), "soon")
	for _, v := range []rules.Verdict{rules.Accepted, rules.Rejected, rules.Unmatched} {
		ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.GaugeValue, float64(verdicts[v]), string(v))
	}
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	s.metrics.Handler().ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// readyProbeKey is a key Stat is asked for to see that the store answers;
// it does not exist, so ErrNotFound is the healthy answer.
const readyProbeKey = "readyz/probe"

// readyTimeout bounds the readiness checks.
const readyTimeout = 5 * time.Second

// readyz reports whether the ledger and the store answer. It says which
// failed but not why: the errors may name paths and hosts, and the check
// is public.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := map[string]string{"ledger": "ok", "store": "ok"}
	status := http.StatusOK
	if _, err := s.ledger.SchemaVersion(ctx); err != nil {
		s.log.Error("web: readyz: ledger", "err", err)
		checks["ledger"], status = "unavailable", http.StatusServiceUnavailable
	}
	if _, err := s.store.Stat(ctx, readyProbeKey); err != nil && !errors.Is(err, archive.ErrNotFound) {
		s.log.Error("web: readyz: store", "err", err)
		checks["store"], status = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, status, checks)
}
