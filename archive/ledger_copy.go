package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ActionLedgerCopied is the entry CopyLedger appends to the copy's audit
// trail once the copied chain verified; its subject is "ledger", its
// details the source ("from"), the copied chain's length ("entries") and
// head ("head"), and the "schema_version".
const ActionLedgerCopied Action = "ledger_copied"

// copyTable is a table CopyLedger copies, and the key it reads it in
// order of (its primary key: the copy is reproducible, and on SQLite it
// walks the table's own B-tree). A singleton table holds one row every
// new ledger has (the registry's version): the copy replaces that row.
type copyTable struct {
	name, order string
	singleton   bool
}

// copyTables are the ledger's tables of record, parents before children.
// Every other table is derived (derivedTables): the copy's triggers
// rebuild them as the rows arrive. TestCopyTablesCoverSchema fails on a
// table in neither list, so that a migration cannot add one the copy
// forgets.
var copyTables = []copyTable{
	{"tenants", "id", false},
	{"tenant_domains", "domain", false},
	{"registry", "id", true},
	{"users", "name", false},
	{"sessions", "token_sha256", false},
	{"api_tokens", "id", false},
	{"messages", "id", false},
	{"claims", "id", false},
	{"claim_fields", "claim_id, field", false},
	{"claim_evidence", "claim_id, message_id", false},
	{"evidence_decisions", "message_id, claim_id", false},
	{"incident_facts", "id", false},
	{"reminders", "claim_id, channel, deadline, threshold_days", false},
	{"checkpoints", "mailbox, folder", false},
	{"audit", "seq", false},
	{"audit_messages", "message_id, seq", false},
	{"anchors", "seq", false},
}

// derivedTables are kept by triggers from the tables of record, or are
// the ledger's own bookkeeping: CopyLedger does not copy them.
var derivedTables = map[string]bool{
	"schema_version": true, // the copy's own migrations
	"message_counts": true, // messages_count_* triggers
	"incident_list":  true, // incident_list_* triggers on claims
	"message_search": true, // message_search_* triggers (FTS5, with its shadow tables)
	"leases":         true, // the replicas of the source's run: they hold nothing in the copy
	"flashes":        true, // forms' results for the next page, lapsing in minutes
	"rate_limits":    true, // the web app's login limits, full again in minutes
}

// copyBatchRows bounds the rows of one INSERT and copyTxRows those of one
// transaction of the copy.
const (
	copyBatchRows = 100
	copyTxRows    = 5000
)

// CopyProgress is what CopyLedger reports as it goes: the table it is
// copying and the rows of it copied so far (Done once the table is
// complete).
type CopyProgress struct {
	Table string
	Rows  int64
	Done  bool
}

// CopyReport says what CopyLedger copied and verified.
type CopyReport struct {
	// Tables are the rows copied per table, in the order copied.
	Tables []CopyProgress
	// Entries is the length of the audit chain copied, and Head the hash
	// of its last entry: the same on both sides, and verified on both.
	Entries int64
	Head    string
	// Took is how long the copy ran.
	Took time.Duration
}

// CopyLedger copies every row of record from src into dst, a new and empty
// ledger (of the same or of another engine): tenants and registry, users,
// sessions and tokens, messages, claims with their fields, evidence and
// decisions, incident facts, reminders, checkpoints, and the audit trail
// with its anchors. The tables the ledger derives (counts, the incident
// list, the search index) are rebuilt by dst's triggers as rows arrive.
//
// It refuses a dst that holds any row of record, and a src whose audit
// trail does not verify. It reads src in one read transaction, so a
// process writing src meanwhile does not tear the copy (what it writes
// after the snapshot is not copied: stop writers for a move). When the
// rows are in, dst's chain is verified and must end on src's head; then
// dst's trail records the copy (ActionLedgerCopied, by actor, from from,
// which names src for people and must hold no password).
//
// progress, when not nil, hears of each table as it goes.
func CopyLedger(ctx context.Context, src, dst *Ledger, actor, from string, progress func(CopyProgress)) (*CopyReport, error) {
	start := time.Now()
	fail := func(err error) (*CopyReport, error) { return nil, fmt.Errorf("archive: copy ledger: %w", err) }
	sv, err := src.SchemaVersion(ctx)
	if err != nil {
		return fail(err)
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return fail(err)
	}
	if sv != dv {
		return fail(fmt.Errorf("the source is at schema version %d and the destination at %d: open both with this claimtrail first", sv, dv))
	}
	for _, t := range copyTables {
		if t.singleton {
			continue
		}
		var one int
		err := dst.r.QueryRowContext(ctx, `SELECT 1 FROM `+t.name+` LIMIT 1`).Scan(&one)
		if err == nil {
			return fail(fmt.Errorf("the destination is not empty (table %s holds rows): copy only into a new, empty ledger", t.name))
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fail(fmt.Errorf("read the destination's %s: %w", t.name, err))
		}
	}
	if rep, err := src.VerifyAudit(ctx, nil); err != nil {
		if rep != nil && len(rep.Problems) > 0 {
			return fail(fmt.Errorf("the source's audit trail does not verify (%s, and %d problems in all): "+
				"investigate with claimtrail audit verify before moving it: %w", rep.Problems[0], len(rep.Problems), err))
		}
		return fail(fmt.Errorf("verify the source's audit trail: %w", err))
	}

	snap, err := src.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(fmt.Errorf("read the source: %w", err))
	}
	defer snap.Rollback()
	rep := &CopyReport{}
	for _, t := range copyTables {
		n, err := copyRows(ctx, snap, dst, t, progress)
		if err != nil {
			return fail(err)
		}
		p := CopyProgress{Table: t.name, Rows: n, Done: true}
		rep.Tables = append(rep.Tables, p)
		if progress != nil {
			progress(p)
		}
	}
	var srcHead AuditEntry
	err = snap.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&srcHead.Seq, &srcHead.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fail(fmt.Errorf("read the source's audit head: %w", err))
	}
	if err := snap.Rollback(); err != nil {
		return fail(fmt.Errorf("read the source: %w", err))
	}
	if dst.eng.afterCopy != "" {
		if err := dst.writeOne(ctx, "copy: after", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, dst.eng.afterCopy)
			return err
		}); err != nil {
			return fail(err)
		}
	}

	drep, err := dst.VerifyAudit(ctx, nil)
	if err != nil {
		if drep != nil && len(drep.Problems) > 0 {
			return fail(fmt.Errorf("the copied audit trail does not verify (%s): the destination is incomplete; drop it and copy again: %w", drep.Problems[0], err))
		}
		return fail(fmt.Errorf("verify the copied audit trail: %w", err))
	}
	head, err := dst.AuditHead(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fail(err)
	}
	if head.Seq != srcHead.Seq || head.Hash != srcHead.Hash {
		return fail(fmt.Errorf("the copy's audit trail ends at entry %d (%.12s), the source's at %d (%.12s): drop the destination and copy again",
			head.Seq, head.Hash, srcHead.Seq, srcHead.Hash))
	}
	rep.Entries, rep.Head = head.Seq, head.Hash
	_, err = dst.AppendAudit(ctx, actor, ActionLedgerCopied, "ledger", map[string]any{
		"from": from, "entries": head.Seq, "head": head.Hash, "schema_version": sv,
	})
	if err != nil {
		return fail(err)
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// copyRows copies table t from the snapshot into dst, copyTxRows rows a
// transaction in INSERTs of copyBatchRows rows, and returns the count.
func copyRows(ctx context.Context, snap *sql.Tx, dst *Ledger, t copyTable, progress func(CopyProgress)) (int64, error) {
	rows, err := snap.QueryContext(ctx, `SELECT * FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return 0, fmt.Errorf("read the source's %s: %w", t.name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("read the source's %s: %w", t.name, err)
	}
	flags, err := boolColumns(ctx, dst, t.name, cols)
	if err != nil {
		return 0, err
	}
	var (
		total int64
		batch []any // values of up to copyTxRows rows, row after row
		more  = true
	)
	for more {
		batch = batch[:0]
		for len(batch) < copyTxRows*len(cols) {
			if more = rows.Next(); !more {
				break
			}
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return total, fmt.Errorf("read the source's %s: %w", t.name, err)
			}
			for i, v := range vals {
				vals[i] = asFlag(v, flags[i])
			}
			batch = append(batch, vals...)
		}
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("read the source's %s: %w", t.name, err)
		}
		if len(batch) == 0 {
			break
		}
		err := dst.writeOne(ctx, "copy "+t.name, func(tx *sql.Tx) error {
			if t.singleton {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t.name); err != nil {
					return fmt.Errorf("write %s: %w", t.name, err)
				}
			}
			return insertRows(ctx, tx, t.name, cols, batch)
		})
		if err != nil {
			return total, err
		}
		total += int64(len(batch) / len(cols))
		if progress != nil {
			progress(CopyProgress{Table: t.name, Rows: total})
		}
	}
	return total, nil
}

// insertRows inserts vals, rows of len(cols) values, into table, in
// statements of at most copyBatchRows rows.
func insertRows(ctx context.Context, tx *sql.Tx, table string, cols []string, vals []any) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES `
	for len(vals) > 0 {
		n := min(len(vals)/len(cols), copyBatchRows)
		q := head + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		if _, err := tx.ExecContext(ctx, q, vals[:n*len(cols)]...); err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
		vals = vals[n*len(cols):]
	}
	return nil
}

// boolColumns says which of table's columns cols are booleans in dst:
// SQLite keeps flags as integers 0 and 1, PostgreSQL as BOOLEAN.
func boolColumns(ctx context.Context, dst *Ledger, table string, cols []string) ([]bool, error) {
	rows, err := dst.r.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table+` LIMIT 0`)
	if err != nil {
		return nil, fmt.Errorf("read the destination's %s: %w", table, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("read the destination's %s: %w", table, err)
	}
	flags := make([]bool, len(types))
	for i, ct := range types {
		flags[i] = strings.EqualFold(ct.DatabaseTypeName(), "BOOL") || strings.EqualFold(ct.DatabaseTypeName(), "BOOLEAN")
	}
	return flags, nil
}

// asFlag converts v, read from the source, to what the destination's
// column takes: a boolean where flag is set, 0 or 1 for a boolean read
// into an integer column.
func asFlag(v any, flag bool) any {
	switch x := v.(type) {
	case int64:
		if flag {
			return x != 0
		}
	case bool:
		if !flag {
			if x {
				return int64(1)
			}
			return int64(0)
		}
	}
	return v
}
