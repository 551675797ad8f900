package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
	"github.com/claimtrail/claimtrail/web"
)

const reprocessUsage = `usage: claimtrail reprocess --config FILE [--verdict rejected,unmatched] [--sha SHA ...] [--dry-run]

Judges stored mail again, from the message.eml in each message's evidence
bundle, with the configuration's rules and the ledger's tenant registry as
it is now: run it after importing Partner Center's customer list or adding
a domain to a tenant. The DKIM results are those recorded on arrival; DNS
is not asked again.

A message whose judgment changes gets a new bundle next to the old one
(bundles/<sha256>/2.zip after 1.zip; a bundle is never replaced), its
claims are updated, and the change is recorded in the audit trail as
cli:<your user name>. Each change is printed, then a summary. The same
judgment writes nothing, so running it again is safe. A bundle that does
not match its record is refused and named.

Analysts' decisions stick: a message an analyst attached to a claim or
detached from one by hand is never re-judged here; it is kept as it is,
named with who decided, and counted as kept. To replace such a decision,
re-judge the message on its own on the triage page (or POST
/api/v1/triage/{sha}/rejudge with {"override": true}).

Without --sha, the messages whose current verdict is one of --verdict are
re-judged; with --sha, the messages named, whatever their verdict.

Exit status: 0 when every message was re-judged, 1 when some could not be
(each is named), 2 for bad usage or configuration.

flags:
`

// reprocessPage is how many messages are read from the ledger at a time.
const reprocessPage = 200

// reprocessGiveUp stops after this many failures in a row: the store or
// the ledger is down, and every further message would fail too.
const reprocessGiveUp = 10

// reprocessEvery is how often progress is printed on long runs.
const reprocessEvery = 2 * time.Second

func runReprocess(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "reprocess", reprocessUsage)
	configPath := fs.String("config", "", "the configuration `file`")
	verdictList := fs.String("verdict", "rejected,unmatched", "re-judge the messages with these `verdicts`, comma-separated (accepted, rejected, unmatched)")
	var shas []string
	fs.Func("sha", "re-judge the message with this raw `SHA-256` (64 hex digits); repeat or separate by commas for several", func(s string) error {
		for _, sha := range strings.Split(s, ",") {
			sha = strings.ToLower(strings.TrimSpace(sha))
			if len(sha) != 64 || strings.Trim(sha, "0123456789abcdef") != "" {
				return fmt.Errorf("%q is not a message's SHA-256 (64 hex digits; claimtrail claims show lists them)", sha)
			}
			shas = append(shas, sha)
		}
		return nil
	})
	dryRun := fs.Bool("dry-run", false, "judge and report, but store no bundle and record nothing")
	rest, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	verdictSet := false
	fs.Visit(func(f *flag.Flag) { verdictSet = verdictSet || f.Name == "verdict" })
	verdicts, verr := parseVerdicts(*verdictList)
	switch {
	case len(rest) > 0:
		e.errorf("reprocess: unexpected argument %q; name messages with --sha", rest[0])
		return exitUsage
	case *configPath == "":
		e.errorf("reprocess: --config is missing; name the configuration file, e.g. --config claimtrail.yaml")
		return exitUsage
	case verr != nil:
		e.errorf("reprocess: --verdict: %v", verr)
		return exitUsage
	case verdictSet && len(shas) > 0:
		e.errorf("reprocess: use --verdict or --sha, not both: --sha re-judges the messages named, whatever their verdict")
		return exitUsage
	}
	log := newLogger(e, false)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	// openState builds the policy from the configuration's rules and the
	// ledger's tenants as they are now, CSV imports included.
	st, err := openState(ctx, cfg, log)
	if err != nil {
		e.errorf("reprocess: %v", err)
		return exitFail
	}
	defer st.close()

	r := &reprocessor{
		e:      e,
		pipe:   ingest.NewPipeline(st.policy, st.store, st.ledger, &ingest.PipelineOptions{Logger: log}),
		actor:  cliActor(),
		dryRun: *dryRun,
		now:    map[rules.Verdict]int{},
		last:   time.Now(),
	}
	if len(shas) > 0 {
		r.total = len(shas)
		for _, sha := range shas {
			if !r.one(ctx, sha) {
				break
			}
		}
	} else if err = r.walk(ctx, st.ledger, verdicts); err != nil {
		e.errorf("reprocess: %v", err)
	}
	if r.changed > 0 && !r.dryRun {
		if aerr := anchorOnce(context.WithoutCancel(ctx), st); aerr != nil {
			e.errorf("reprocess: the audit trail was not anchored: %v", aerr)
		}
	}
	fmt.Fprintln(e.stdout, r.summary())
	switch {
	case r.stopped != nil:
		e.errorf("reprocess: %v", r.stopped)
		return exitFail
	case err != nil || r.failed > 0:
		return exitFail
	}
	return exitOK
}

// parseVerdicts reads a comma-separated list of verdicts.
func parseVerdicts(s string) ([]rules.Verdict, error) {
	var out []rules.Verdict
	for _, f := range strings.Split(s, ",") {
		v := rules.Verdict(strings.ToLower(strings.TrimSpace(f)))
		switch v {
		case rules.Accepted, rules.Rejected, rules.Unmatched:
			out = append(out, v)
		default:
			return nil, fmt.Errorf("%q is not a verdict; use accepted, rejected or unmatched, comma-separated", f)
		}
	}
	return out, nil
}

// reprocessor re-judges messages one by one and counts the outcomes.
type reprocessor struct {
	e      *env
	pipe   *ingest.Pipeline
	actor  string
	dryRun bool

	total, done    int // messages to do (when known) and done
	changed        int
	now            map[rules.Verdict]int // changed messages by their new verdict
	unchanged      int
	kept           int // left alone: an analyst decided about them
	notStored      int
	failed, inARow int
	stopped        error // why the run gave up
	last           time.Time
}

// walk re-judges the messages with one of verdicts, a page at a time, so
// a large ledger is never held in memory. Newest first: the order of the
// ledger's Messages, whose cursor is immune to verdicts changing on the way.
func (r *reprocessor) walk(ctx context.Context, ledger *archive.Ledger, verdicts []rules.Verdict) error {
	counts, err := ledger.MessageCounts(ctx)
	if err != nil {
		return err
	}
	for _, v := range verdicts {
		r.total += counts[v]
	}
	var before int64
	for {
		msgs, err := ledger.Messages(ctx, archive.MessageFilter{Verdicts: verdicts, Before: before, Limit: reprocessPage})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if !r.one(ctx, m.SHA256) {
				return nil
			}
		}
		if len(msgs) < reprocessPage {
			return nil
		}
		before = msgs[len(msgs)-1].ID
	}
}

// one re-judges the message sha and reports whether to go on.
func (r *reprocessor) one(ctx context.Context, sha string) bool {
	var res ingest.RejudgeResult
	var err error
	if r.dryRun {
		res, err = r.pipe.PreviewRejudge(ctx, sha, ingest.RejudgeOptions{})
	} else {
		res, err = r.pipe.Rejudge(ctx, sha, r.actor, ingest.RejudgeOptions{})
	}
	r.done++
	switch {
	case ctx.Err() != nil:
		r.stopped = fmt.Errorf("interrupted after %d of %d messages; run it again to finish", r.done-1, r.total)
		return false
	case errors.Is(err, archive.ErrDecided):
		// Bulk re-judging never overrides an analyst.
		r.inARow = 0
		r.kept++
		var who []string
		for _, d := range res.Decisions {
			who = append(who, d.String())
		}
		fmt.Fprintf(r.e.stdout, "%s: kept: an analyst decided (%s); the rules would make it %s\n", sha, strings.Join(who, "; "), res.After.Verdict)
		return true
	case errors.Is(err, ingest.ErrNotBundled):
		r.notStored++
		r.e.errorf("reprocess: %s: not judged and stored yet; left for the poller", sha)
		return true
	case err != nil:
		r.failed++
		r.inARow++
		r.e.errorf("reprocess: %v", err)
		if r.inARow >= reprocessGiveUp {
			r.stopped = fmt.Errorf("%d messages in a row failed; giving up (is the store or the ledger reachable?)", r.inARow)
			return false
		}
		return true
	}
	r.inARow = 0
	if res.Changed {
		r.changed++
		r.now[res.After.Verdict]++
		reason := ""
		if res.After.Reason != "" {
			reason = " (" + string(res.After.Reason) + ")"
		}
		verb := "stored"
		if r.dryRun {
			verb = "would store"
		}
		fmt.Fprintf(r.e.stdout, "%s: %s -> %s%s; %s %s\n", sha, res.Before.Verdict, res.After.Verdict, reason, verb, res.BundleKey)
	} else {
		r.unchanged++
	}
	if time.Since(r.last) >= reprocessEvery {
		fmt.Fprintf(r.e.stderr, "re-judged %d of %d so far\n", r.done, r.total)
		r.last = time.Now()
	}
	return true
}

// summary reads "42 re-judged: 5 now accepted, 1 now unmatched, 36
// unchanged", with what was left or failed.
func (r *reprocessor) summary() string {
	var b strings.Builder
	judged := r.changed + r.unchanged + r.kept
	fmt.Fprintf(&b, "%d re-judged", judged)
	now := "now"
	if r.dryRun {
		b.WriteString(" (dry run, nothing written)")
		now = "would be"
	}
	var parts []string
	for _, v := range []rules.Verdict{rules.Accepted, rules.Rejected, rules.Unmatched} {
		if n := r.now[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s %s", n, now, v))
		}
	}
	parts = append(parts, fmt.Sprintf("%d unchanged", r.unchanged))
	if r.kept > 0 {
		parts = append(parts, fmt.Sprintf("%d kept: an analyst decided", r.kept))
	}
	b.WriteString(": " + strings.Join(parts, ", "))
	if r.notStored > 0 {
		fmt.Fprintf(&b, "; %d not stored yet", r.notStored)
	}
	if r.failed > 0 {
		fmt.Fprintf(&b, "; %d failed", r.failed)
	}
	return b.String()
}

// webRejudge is the web app's re-judging path: pipe's Rejudge, judging
// with the policy the app builds from the registry at each request.
func webRejudge(pipe *ingest.Pipeline) web.RejudgeFunc {
	return func(ctx context.Context, policy *rules.Policy, sha, actor string, opts web.RejudgeOptions) (web.Rejudgment, error) {
		p := pipe
		if policy != nil {
			p = pipe.WithPolicy(policy)
		}
		r, err := p.Rejudge(ctx, sha, actor, ingest.RejudgeOptions{Judgment: opts.Judgment, ByAnalyst: opts.ByAnalyst, Override: opts.Override})
		return web.Rejudgment{Before: r.Before, After: r.After, Changed: r.Changed, BundleKey: r.BundleKey, Decisions: r.Decisions}, err
	}
}
