package ingest

import (
	"context"
	"time"

	"github.com/emersion/go-imap/v2"
)

// WaitForNew waits up to max for news in folder and reports whether the
// server announced new mail. With IDLE it listens for the server's EXISTS,
// stopping IDLE every IdleRestart to check the connection with NOOP (a
// silent connection can be dead, and go-imap itself renews IDLE only every
// 28 minutes); without IDLE it sleeps for the poll interval and sends NOOP.
// A report may be spurious: the caller simply looks again.
func (c *IMAPConn) WaitForNew(ctx context.Context, folder string, max time.Duration) (bool, error) {
	if _, err := c.Select(ctx, folder); err != nil {
		return false, err
	}
	if !c.caps.Has(imap.CapIdle) {
		if !Sleep(ctx, min(max, c.cfg.PollInterval.D())) {
			return false, ctx.Err()
		}
		if err := c.Noop(ctx); err != nil {
			return false, err
		}
		return c.takeExists(), nil
	}
	deadline := time.Now().Add(max)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		news, err := c.idleOnce(ctx, min(left, c.opts.IdleRestart))
		if news || err != nil {
			return news, err
		}
		// Quiet so far: make sure the connection still works.
		if err := c.Noop(ctx); err != nil {
			return false, err
		}
		if c.takeExists() {
			return true, nil
		}
	}
}

// idleOnce runs one IDLE command for at most d.
func (c *IMAPConn) idleOnce(ctx context.Context, d time.Duration) (bool, error) {
	if c.takeExists() {
		return true, nil
	}
	g := c.guard(ctx)
	idle, err := c.c.Idle()
	if err = g.done(err); err != nil {
		return false, c.wrap("idle", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	news := false
	select {
	case <-c.exists:
		news = true
	case <-t.C:
	case <-ctx.Done():
	case <-c.c.Closed():
	}
	g = c.guard(ctx)
	err = idle.Close()
	if err == nil {
		err = idle.Wait()
	}
	if err = g.done(err); err != nil {
		return false, c.wrap("idle", err)
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return news, nil
}

// takeExists consumes a pending new-mail signal.
func (c *IMAPConn) takeExists() bool {
	select {
	case <-c.exists:
		return true
	default:
		return false
	}
}
