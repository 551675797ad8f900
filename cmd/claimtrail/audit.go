package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
)

const auditUsage = `usage: claimtrail audit --config FILE COMMAND [flags]

Works on the hash-chained audit trail in the ledger the configuration
names, and on its anchors in the configured store.

commands:
  verify           recompute every hash, check the links and check the chain
                   against every anchor in the store
  export [--claim ID] [--format jsonl|csv] [-o FILE] [--force]
                   write the trail (or the entries about one claim and its
                   evidence) to standard output or FILE
  anchor           write the head of the trail to the store now, so that no
                   rewrite of the entries up to it can pass verify

Run anchor regularly (the poller does, daily): entries after the last
anchor are protected by the chain alone, and their removal is not
detectable.

Exit status: 0 ok, 1 when the trail does not verify or the work failed,
2 for bad usage or configuration.

flags:
`

func runAudit(ctx context.Context, e *env, args []string) int {
	c, sub, rest, code := parseLedgerCommand(e, "audit", auditUsage, args)
	if c == nil {
		return code
	}
	fs := c.subFlags(sub)
	var claim, format, out *string
	var force *bool
	switch sub {
	case "verify", "anchor":
	case "export":
		claim = fs.String("claim", "", "only the entries about this claim `ID` and its evidence")
		format = fs.String("format", "jsonl", "jsonl (one JSON object per line) or csv")
		out = fs.String("o", "", "write to this `file` instead of standard output")
		force = fs.Bool("force", false, "replace the -o file if it exists")
	default:
		e.errorf("audit: unknown command %q; use verify, export or anchor (see claimtrail audit -h)", sub)
		return exitUsage
	}
	pos, code := c.parseSub(fs, rest)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 {
		e.errorf("audit %s: unexpected argument %q; see claimtrail audit -h", sub, pos[0])
		return exitUsage
	}
	var claimID int64
	var fmtAudit archive.AuditFormat
	if sub == "export" {
		if *claim != "" {
			if claimID, code = parseClaimID(e, "audit export --claim", *claim); code >= 0 {
				return code
			}
		}
		fmtAudit = archive.AuditFormat(strings.ToLower(*format))
		if fmtAudit != archive.AuditJSONL && fmtAudit != archive.AuditCSV {
			e.errorf("audit export: --format %q: use jsonl or csv", *format)
			return exitUsage
		}
	}
	st, code := c.open(ctx, sub != "export")
	if st == nil {
		return code
	}
	defer st.close()
	switch sub {
	case "verify":
		return c.verifyAudit(ctx, st)
	case "anchor":
		return c.anchor(ctx, st)
	default:
		return c.exportAudit(ctx, st.ledger, claimID, fmtAudit, *out, *force)
	}
}

func (c *ledgerCommand) verifyAudit(ctx context.Context, st *state) int {
	rep, err := st.ledger.VerifyAudit(ctx, st.store)
	if rep == nil {
		return c.fail("verify", err)
	}
	if err != nil {
		for _, p := range rep.Problems {
			c.e.errorf("audit verify: %s", p)
		}
		more := ""
		if rep.Truncated {
			more = " (and more not listed)"
		}
		c.e.errorf("audit verify: FAILED: %s%s in %d entries; the trail was changed outside claimtrail or restored from an old copy: keep the database and the store as they are for investigation",
			plural(len(rep.Problems), "problem"), more, rep.Entries)
		return exitFail
	}
	if rep.Entries == 0 {
		fmt.Fprintln(c.e.stdout, "audit trail ok: empty")
		return exitOK
	}
	line := fmt.Sprintf("audit trail ok: %s, head seq %d (%s)", entries(rep.Entries), rep.HeadSeq, short(rep.HeadHash))
	switch {
	case rep.Anchors == 0:
		line += "; no anchor yet, run claimtrail audit anchor"
	case rep.LastAnchor == rep.HeadSeq:
		line += fmt.Sprintf("; %s checked, the last at the head", plural(rep.Anchors, "anchor"))
	default:
		line += fmt.Sprintf("; %s checked, the last at seq %d (%s since, protected by the chain alone)",
			plural(rep.Anchors, "anchor"), rep.LastAnchor, entries(rep.HeadSeq-rep.LastAnchor))
	}
	fmt.Fprintln(c.e.stdout, line)
	return exitOK
}

func entries(n int64) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

// short abbreviates a hash for a summary line.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (c *ledgerCommand) anchor(ctx context.Context, st *state) int {
	a, err := st.ledger.Anchor(ctx, st.store)
	if err != nil {
		return c.fail("anchor", err)
	}
	if a.Seq == 0 {
		fmt.Fprintln(c.e.stdout, "the audit trail is empty; nothing to anchor")
		return exitOK
	}
	fmt.Fprintf(c.e.stdout, "anchored seq %d (%s) at %s\n", a.Seq, short(a.Hash), a.Key)
	return exitOK
}

func (c *ledgerCommand) exportAudit(ctx context.Context, ledger *archive.Ledger, claimID int64, format archive.AuditFormat, out string, force bool) int {
	export := func(w io.Writer) error { return ledger.ExportAudit(ctx, w, format, claimID) }
	if out == "" {
		if err := export(c.e.stdout); err != nil {
			return c.fail("export", err)
		}
		return exitOK
	}
	if !force {
		if _, err := os.Lstat(out); err == nil {
			c.e.errorf("audit export: %s exists; choose another file with -o, or replace it with --force", out)
			return exitFail
		}
	}
	n, err := writeFileAtomic(out, force, export)
	if errors.Is(err, fs.ErrExist) {
		c.e.errorf("audit export: %s exists; choose another file with -o, or replace it with --force", out)
		return exitFail
	}
	if err != nil {
		return c.fail("export", err)
	}
	what := "the audit trail"
	if claimID > 0 {
		what = "the audit entries of claim " + strconv.FormatInt(claimID, 10)
	}
	fmt.Fprintf(c.e.stderr, "claimtrail: audit export: wrote %s to %s (%d bytes)\n", what, out, n)
	return exitOK
}
