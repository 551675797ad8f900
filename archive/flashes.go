package archive

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PutFlash keeps data, JSON, for user until ttl after now, and returns the
// random token that reads it back (Flash). It deletes the flashes lapsed
// by now and, beyond the keep newest, the oldest. The web app keeps a
// form's results there for the page its redirect shows, which behind a
// load balancer another replica may serve. Safe for concurrent use.
func (l *Ledger) PutFlash(ctx context.Context, user string, data []byte, now time.Time, ttl time.Duration, keep int) (string, error) {
	op := "put flash for " + user
	switch {
	case user == "":
		return "", fmt.Errorf("archive: %s: a user is required", op)
	case ttl < time.Millisecond || keep < 1:
		return "", fmt.Errorf("archive: %s: ttl %s and keep %d must be positive", op, ttl, keep)
	case !json.Valid(data):
		return "", fmt.Errorf("archive: %s: the data is not JSON", op)
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	nowMS := now.UnixMilli()
	err := l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		if _, err := tx.ExecContext(ctx, `INSERT INTO flashes (token, user_name, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			token, user, string(data), nowMS, nowMS+ttl.Milliseconds()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM flashes WHERE expires_at <= ?`, nowMS); err != nil {
			return err
		}
		// Older than the keep-th newest; NULL, and so nothing, while
		// there are no more than keep.
		_, err := tx.ExecContext(ctx, `DELETE FROM flashes WHERE created_at <
			(SELECT created_at FROM flashes ORDER BY created_at DESC LIMIT 1 OFFSET ?)`, keep-1)
		return err
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Flash returns the data PutFlash kept for user under token, while it has
// not lapsed by now; ErrNotFound when there is none, it lapsed, or it is
// another user's.
func (l *Ledger) Flash(ctx context.Context, user, token string, now time.Time) ([]byte, error) {
	var data string
	err := l.r.QueryRowContext(ctx, `SELECT data FROM flashes WHERE token = ? AND user_name = ? AND expires_at > ?`,
		token, user, now.UnixMilli()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("archive: flash: %w", ErrNotFound)
	}
	if err != nil {
		return nil, dbErr("flash", err)
	}
	return []byte(data), nil
}
