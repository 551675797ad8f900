package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ActionLeaseTakenOver records a replica taking over a lease that another
// replica let expire (it died, or lost the ledger) rather than released:
// its subject is "lease:<name>", its actor ActorSystem, its details the new
// "holder", the "previous_holder", when the lease had expired
// ("expired_at", the previous holder's clock) and how long before the
// takeover ("expired_for_ms"). Renewals and clean hand-overs are not
// recorded.
const ActionLeaseTakenOver Action = "lease_taken_over"

// Lease is one named lease as AcquireLease left it or Lease reads it.
type Lease struct {
	Name   string
	Holder string
	// Held is set by AcquireLease when the caller holds the lease.
	Held bool
	// Acquired is when Holder took the lease (not its last renewal);
	// Expires is when it lapses unless renewed. Both are by the clocks of
	// the replicas that wrote them, to the millisecond.
	Acquired, Expires time.Time
	// TakenFrom is the holder whose expired lease AcquireLease just took
	// over, "" when the lease was free, released or already the caller's;
	// ExpiredFor is how long that lease had been expired.
	TakenFrom  string
	ExpiredFor time.Duration
}

// leaseSubjectPrefix starts the audit subject of a lease.
const leaseSubjectPrefix = "lease:"

// AcquireLease takes the lease called name for holder until ttl from now,
// when it is free, expired, released, or already holder's (a renewal), and
// returns it: Held says whether holder has it now, Holder and Expires who
// has it otherwise. A takeover of someone else's expired lease is recorded
// in the audit trail (ActionLeaseTakenOver); a renewal is not.
//
// Expiry is judged by the caller's clock (the ledger's now) against the
// times earlier holders wrote by theirs: replicas sharing a ledger need
// clocks kept in step (NTP), and a holder should stop its work some margin
// before its lease expires by its own clock. It is safe for concurrent
// use, by several processes too: of concurrent callers for a free lease,
// exactly one gets it. The decision is one INSERT ... ON CONFLICT ... DO
// UPDATE ... WHERE, which PostgreSQL takes as SQLite does.
func (l *Ledger) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	op := "acquire lease " + name
	switch {
	case name == "" || holder == "":
		return Lease{}, fmt.Errorf("archive: %s: a lease name and a holder are required", op)
	case ttl < time.Millisecond:
		return Lease{}, fmt.Errorf("archive: %s: ttl %s is too short; give at least 1ms", op, ttl)
	}
	var lease Lease
	err := l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		now := l.now()
		nowMS := now.UnixMilli()
		prev, err := readLease(ctx, tx, name)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		// The WHERE decides, in the one statement that writes: the lease
		// goes to holder only when it is holder's already or has expired.
		// A renewal keeps acquired_at.
		var acquired, expires int64
		err = tx.QueryRowContext(ctx, `INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
				holder = excluded.holder,
				expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
			RETURNING acquired_at, expires_at`,
			name, holder, nowMS, nowMS+ttl.Milliseconds(), nowMS).Scan(&acquired, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			// Someone else's, and live. Read it again: with PostgreSQL's
			// READ COMMITTED another replica may have written it since.
			lease, err = readLease(ctx, tx, name)
			return err
		}
		if err != nil {
			return err
		}
		lease = Lease{Name: name, Holder: holder, Held: true, Acquired: fromMillis(acquired), Expires: fromMillis(expires)}
		if !found || prev.Holder == holder {
			return nil
		}
		lease.TakenFrom = prev.Holder
		lease.ExpiredFor = now.Sub(prev.Expires)
		_, err = l.appendAudit(ctx, tx, now, ActorSystem, ActionLeaseTakenOver, leaseSubjectPrefix+name, map[string]any{
			"holder": holder, "previous_holder": prev.Holder,
			"expired_at": fmtTime(prev.Expires), "expired_for_ms": lease.ExpiredFor.Milliseconds(),
		})
		return err
	})
	if err != nil {
		return Lease{}, err
	}
	return lease, nil
}

// ReleaseLease gives up holder's lease called name, so that another replica
// can take it at once instead of waiting for it to expire (a clean
// shutdown). Releasing a lease holder does not hold is a no-op.
func (l *Ledger) ReleaseLease(ctx context.Context, name, holder string) error {
	return l.write(ctx, "release lease "+name, func(stx *sql.Tx) error {
		_, err := l.cached(stx).ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}

// Lease reads the lease called name as it stands, expired or not;
// ErrNotFound when nobody holds it or it was released.
func (l *Ledger) Lease(ctx context.Context, name string) (Lease, error) {
	lease, err := readLease(ctx, l.r, name)
	if err != nil {
		return Lease{}, dbErr("lease "+name, err)
	}
	return lease, nil
}

func readLease(ctx context.Context, q querier, name string) (Lease, error) {
	var acquired, expires int64
	lease := Lease{Name: name}
	err := q.QueryRowContext(ctx, `SELECT holder, acquired_at, expires_at FROM leases WHERE name = ?`, name).
		Scan(&lease.Holder, &acquired, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("lease %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Lease{}, err
	}
	lease.Acquired, lease.Expires = fromMillis(acquired), fromMillis(expires)
	return lease, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
