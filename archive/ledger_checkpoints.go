package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Checkpoint is how far the poller got in one mailbox folder: every message
// with a UID up to LastUID under UIDValidity has been recorded.
type Checkpoint struct {
	Mailbox     string
	Folder      string
	UIDValidity uint32
	LastUID     uint32
	UpdatedAt   time.Time // zero when no checkpoint was ever set
}

// After returns the UID to fetch after, given the folder's current
// UIDVALIDITY: LastUID when it is unchanged, else 0, since a new UIDVALIDITY
// (RFC 9051, 2.3.1.1) means the old UIDs name nothing. Refetching is safe:
// RecordMessage knows every message by its SHA-256.
func (c Checkpoint) After(uidValidity uint32) uint32 {
	if c.UIDValidity != uidValidity {
		return 0
	}
	return c.LastUID
}

// Checkpoint returns the checkpoint of mailbox/folder; the zero Checkpoint
// (with Mailbox and Folder set) when there is none yet.
func (l *Ledger) Checkpoint(ctx context.Context, mailbox, folder string) (Checkpoint, error) {
	cp := Checkpoint{Mailbox: mailbox, Folder: folder}
	var uv, last int64
	var updated sql.NullString
	err := l.reads.QueryRowContext(ctx, `SELECT uidvalidity, last_uid, updated_at FROM checkpoints
		WHERE mailbox = ? AND folder = ?`, mailbox, folder).Scan(&uv, &last, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, nil
	}
	if err != nil {
		return cp, dbErr(fmt.Sprintf("checkpoint %s/%s", mailbox, folder), err)
	}
	cp.UIDValidity, cp.LastUID = uint32(uv), uint32(last)
	if cp.UpdatedAt, err = parseTime(updated); err != nil {
		return cp, fmt.Errorf("archive: checkpoint %s/%s: %w", mailbox, folder, err)
	}
	return cp, nil
}

// SetCheckpoint records that every message of mailbox/folder up to lastUID
// under uidValidity has been recorded. Under an unchanged UIDVALIDITY the
// checkpoint never moves back (a late, concurrent caller cannot undo
// progress); a different UIDVALIDITY replaces it, resetting the last UID.
func (l *Ledger) SetCheckpoint(ctx context.Context, mailbox, folder string, uidValidity, lastUID uint32) error {
	op := fmt.Sprintf("set checkpoint %s/%s", mailbox, folder)
	if mailbox == "" || folder == "" {
		return fmt.Errorf("archive: %s: mailbox and folder are required", op)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (mailbox, folder, uidvalidity, last_uid, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (mailbox, folder) DO UPDATE SET
				last_uid = CASE WHEN checkpoints.uidvalidity = excluded.uidvalidity AND checkpoints.last_uid > excluded.last_uid
					THEN checkpoints.last_uid ELSE excluded.last_uid END,
				uidvalidity = excluded.uidvalidity,
				updated_at = excluded.updated_at`,
			mailbox, folder, int64(uidValidity), int64(lastUID), fmtTime(l.now()))
		return err
	})
}
