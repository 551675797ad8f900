package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

const ledgerUsage = `usage: claimtrail ledger copy --from sqlite:PATH --to postgres:DSN

Copies a whole ledger into a new, empty one: tenants, users and tokens,
messages, claims, decisions, incident facts, reminders, checkpoints and
the audit trail. Use it to move an install to another database file or
engine. The source's audit trail is verified before the copy and the
copy's after it, and the two must end on the same entry; the copy's trail
then records the copy (ledger_copied). A destination that holds anything
is refused. Stop claimtrail run and serve on the source first: what they
write during the copy is not copied.

Ledgers are named ENGINE:WHERE: sqlite:PATH for a SQLite file (the
destination file is created), postgres:DSN for a PostgreSQL database (a
URL, postgres://user:password@host:5432/db, alone is enough; the database
must exist, its schema is created). A bare "postgres:" takes the DSN from
$CLAIMTRAIL_LEDGER_DSN, which keeps the password off the command line.

Exit status: 0 when the copy is complete and verified, 1 when it failed
(the destination is then incomplete: delete it and copy again), 2 for bad
usage.

flags:
`

// ledgerProgressEvery is how often a long copy says how far it is.
const ledgerProgressEvery = 2 * time.Second

func runLedger(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(e.stdout, ledgerUsage)
			return exitOK
		}
		e.errorf("ledger: say what to do: claimtrail ledger copy --from ... --to ... (see claimtrail ledger -h)")
		return exitUsage
	}
	if args[0] != "copy" {
		e.errorf("ledger: unknown command %q; use copy (see claimtrail ledger -h)", args[0])
		return exitUsage
	}
	flags := newFlags(e, "ledger copy", ledgerUsage)
	from := flags.String("from", "", "the ledger to copy, `ENGINE:WHERE` (sqlite:PATH or postgres:DSN)")
	to := flags.String("to", "", "the new, empty ledger to copy into, `ENGINE:WHERE`")
	rest, code, done := parseArgs(flags, args[1:])
	if done {
		return code
	}
	if len(rest) > 0 {
		e.errorf("ledger copy: unexpected argument %q; see claimtrail ledger -h", rest[0])
		return exitUsage
	}
	if *from == "" || *to == "" {
		e.errorf("ledger copy: both --from and --to are needed, e.g. --from sqlite:data/claimtrail.db --to sqlite:/backup/claimtrail.db")
		return exitUsage
	}
	src, srcName, err := parseLedgerSpec(*from, os.Getenv)
	if err != nil {
		e.errorf("ledger copy: --from: %v", err)
		return exitUsage
	}
	dst, dstName, err := parseLedgerSpec(*to, os.Getenv)
	if err != nil {
		e.errorf("ledger copy: --to: %v", err)
		return exitUsage
	}
	if srcName == dstName {
		e.errorf("ledger copy: --from and --to name the same ledger (%s)", srcName)
		return exitUsage
	}
	if src.Path != "" {
		// OpenLedger would create a missing file and copy nothing.
		if _, err := os.Stat(src.Path); errors.Is(err, fs.ErrNotExist) {
			e.errorf("ledger copy: --from: there is no ledger at %s", src.Path)
			return exitFail
		}
	}
	sl, err := archive.OpenLedger(ctx, src)
	if err != nil {
		e.errorf("ledger copy: open %s: %v", srcName, err)
		return exitFail
	}
	defer sl.Close()
	dl, err := archive.OpenLedger(ctx, dst)
	if err != nil {
		e.errorf("ledger copy: open %s: %v", dstName, err)
		return exitFail
	}
	defer dl.Close()

	fmt.Fprintf(e.stdout, "copying %s to %s\n", srcName, dstName)
	last := time.Now()
	progress := func(p archive.CopyProgress) {
		if p.Done {
			fmt.Fprintf(e.stdout, "  %-20s %12d rows\n", p.Table, p.Rows)
			last = time.Now()
		} else if time.Since(last) >= ledgerProgressEvery {
			fmt.Fprintf(e.stdout, "  %-20s %12d rows so far\n", p.Table, p.Rows)
			last = time.Now()
		}
	}
	rep, err := archive.CopyLedger(ctx, sl, dl, cliActor(), srcName, progress)
	if err != nil {
		e.errorf("ledger copy: %v", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "copied in %s; the audit trail verified on both sides: %d entries ending %s\n",
		rep.Took.Round(time.Millisecond), rep.Entries, rep.Head)
	return exitOK
}

// parseLedgerSpec reads ENGINE:WHERE into the ledger's configuration and
// a name for people (no password in it). getenv supplies the DSN of a
// bare "postgres:".
func parseLedgerSpec(spec string, getenv func(string) string) (archive.LedgerConfig, string, error) {
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		spec = "postgres:" + spec
	}
	engine, where, ok := strings.Cut(spec, ":")
	if !ok {
		return archive.LedgerConfig{}, "", fmt.Errorf("%q: name a ledger as sqlite:PATH or postgres:DSN", archive.RedactDSN(spec))
	}
	var cfg archive.LedgerConfig
	switch engine {
	case "sqlite":
		if where == "" {
			return cfg, "", errors.New("sqlite: needs the file's path, e.g. sqlite:data/claimtrail.db")
		}
		cfg = archive.LedgerConfig{Path: where}
	case "postgres", "postgresql":
		if where == "" {
			// A password on the command line shows in ps.
			where = getenv("CLAIMTRAIL_LEDGER_DSN")
			if where == "" {
				return cfg, "", errors.New("postgres: needs a DSN, after the colon or in $CLAIMTRAIL_LEDGER_DSN")
			}
		}
		cfg = archive.LedgerConfig{Driver: archive.DriverPostgres, DSN: where}
	default:
		return cfg, "", fmt.Errorf("%q: unknown engine %q; use sqlite:PATH or postgres:DSN", archive.RedactDSN(spec), engine)
	}
	if err := cfg.Validate(); err != nil {
		return archive.LedgerConfig{}, "", fmt.Errorf("ledger.%w", err)
	}
	if cfg.Driver == archive.DriverPostgres {
		return cfg, "postgres:" + archive.RedactDSN(cfg.DSN), nil
	}
	return cfg, "sqlite:" + cfg.Path, nil
}
