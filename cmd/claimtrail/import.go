package main

import (
	"context"
	"fmt"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
)

const importUsage = `usage: claimtrail import --config FILE PATH ...

Backfills mail from files through the same pipeline as the poller: each
message is judged, stored as an evidence bundle and attached to its claims.
A PATH is an .eml file, an mbox, a Maildir, or a directory searched for
them. Importing the same mail twice changes nothing.

Exit status: 0 when every message was handled, 1 when some could not be
(each is named), 2 for bad usage or configuration.

flags:
`

// importGiveUp stops an import after this many failures in a row: the
// store or the ledger is down, and every further message would fail too.
const importGiveUp = 10

func runImport(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "import", importUsage)
	configPath := fs.String("config", "", "the configuration `file`")
	paths, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	switch {
	case *configPath == "":
		e.errorf("import: --config is missing; name the configuration file, e.g. --config claimtrail.yaml")
		return exitUsage
	case len(paths) == 0:
		e.errorf("import: name at least one .eml file, mbox, Maildir or directory")
		return exitUsage
	}
	log := newLogger(e, false)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	st, err := openState(ctx, cfg, log)
	if err != nil {
		e.errorf("import: %v", err)
		return exitFail
	}
	defer st.close()
	spool, err := ingest.OpenSpoolDir("", log)
	if err != nil {
		e.errorf("import: %v", err)
		return exitFail
	}
	defer spool.Close()
	// Forwarded Service Health notifications give their incident's facts,
	// as in run; Graph is asked only by run and incidents sync.
	counts := &verdictCounts{}
	pipe := ingest.NewPipeline(st.policy, st.store, st.ledger, &ingest.PipelineOptions{
		Resolver: cfg.DKIM.resolver(), Logger: log, SpoolDir: spool.Path(),
		Incidents: newSyncer(cfg, st, nil, log),
	})

	var failed, inARow, known int
	lastReport := time.Now()
	skipped, err := ingest.WalkFiles(ctx, paths, func(fm ingest.FileMessage) error {
		res, err := pipe.HandleFile(ctx, fm.Name, fm.R)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
			inARow++
			e.errorf("import: %s: %v", fm.Name, err)
			if inARow >= importGiveUp {
				return fmt.Errorf("%d messages in a row failed; giving up (is the store or the ledger reachable?)", inARow)
			}
			return nil
		}
		inARow = 0
		counts.Judged(res.Judgment.Verdict)
		if !res.New {
			known++
		}
		if time.Since(lastReport) >= 2*time.Second {
			fmt.Fprintf(e.stderr, "imported %s so far\n", counts)
			lastReport = time.Now()
		}
		return nil
	})
	if aerr := anchorOnce(context.WithoutCancel(ctx), st); aerr != nil {
		e.errorf("import: the audit trail was not anchored: %v", aerr)
	}
	fmt.Fprintf(e.stdout, "imported %s", counts)
	if known > 0 {
		fmt.Fprintf(e.stdout, "; %d of them were in the ledger already", known)
	}
	if skipped > 0 {
		fmt.Fprintf(e.stdout, "; skipped, not mail (.eml, mbox or Maildir): %s", plural(skipped, "file"))
	}
	if failed > 0 {
		fmt.Fprintf(e.stdout, "; %d failed", failed)
	}
	fmt.Fprintln(e.stdout)
	if err != nil {
		e.errorf("import: %v", err)
		return exitFail
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// anchorOnce writes the audit trail's head to the store.
func anchorOnce(ctx context.Context, st *state) error {
	_, err := st.ledger.Anchor(ctx, st.store)
	return err
}
