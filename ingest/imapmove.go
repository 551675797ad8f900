package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Move moves the messages uids of folder to the folder dest, creating dest
// first when it is missing. uidValidity, when not zero, must still be the
// folder's: otherwise the UIDs name other messages, nothing is moved and
// the error wraps ErrUIDValidityChanged. Moving a UID that is gone already
// succeeds, so Move can be retried after any failure.
//
// With MOVE, the server moves atomically. Without it, Move copies, checks
// that the copy succeeded, and only then deletes: with UIDPLUS by
// \Deleted and UID EXPUNGE of exactly these UIDs; without UIDPLUS (where
// EXPUNGE would also remove mail others marked \Deleted) it only marks the
// originals with the $ClaimtrailDone keyword, which FetchNew skips.
// go-imap's own fallback is never used: it deletes even when COPY failed.
func (c *IMAPConn) Move(ctx context.Context, folder string, uidValidity uint32, uids []uint32, dest string) error {
	if len(uids) == 0 {
		return nil
	}
	if dest == folder {
		return permanent(fmt.Errorf("ingest: mailbox %q: move from %s to itself", c.cfg.Name, folder))
	}
	st, err := c.Select(ctx, folder)
	if err != nil {
		return err
	}
	if uidValidity != 0 && uidValidity != st.UIDValidity {
		return fmt.Errorf("ingest: mailbox %q: move from %s: %w: was %d, is %d", c.cfg.Name, folder, ErrUIDValidityChanged, uidValidity, st.UIDValidity)
	}
	if err := c.ensureFolder(ctx, dest); err != nil {
		return err
	}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	op := fmt.Sprintf("move %s %s to %s", folder, set, dest)
	// Ask the same capability set go-imap's Move consults, so that it can
	// never pick its unsafe fallback behind our back.
	if c.c.Caps().Has(imap.CapMove) {
		g := c.guard(ctx)
		_, err := c.c.Move(set, dest).Wait()
		return c.wrap(op, g.done(err))
	}
	return c.wrap(op, c.copyThenDelete(ctx, set, dest))
}

func (c *IMAPConn) copyThenDelete(ctx context.Context, set imap.UIDSet, dest string) error {
	uidplus := c.c.Caps().Has(imap.CapUIDPlus)

	// Which messages are still here, and which were copied by an earlier
	// attempt that did not get to delete them?
	g := c.guard(ctx)
	bufs, err := c.c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err = g.done(err); err != nil {
		return fmt.Errorf("fetch flags: %w", err)
	}
	var toCopy, done imap.UIDSet
	for _, b := range bufs {
		if b.UID == 0 {
			continue
		}
		if hasFlag(b.Flags, doneKeyword) {
			done.AddNum(b.UID)
		} else {
			toCopy.AddNum(b.UID)
		}
	}
	mark := done
	if len(toCopy) > 0 {
		g := c.guard(ctx)
		data, err := c.c.Copy(toCopy, dest).Wait()
		if err = g.done(err); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		switch {
		case data.UIDValidity != 0:
			// COPYUID lists exactly what was copied; a UID missing there
			// was expunged meanwhile and needs nothing more.
			mark.AddSet(data.SourceUIDs)
		case uidplus:
			// UIDPLUS without COPYUID: nothing was left to copy.
		default:
			mark.AddSet(toCopy)
		}
	}
	if len(mark) == 0 {
		return nil
	}
	flags := []imap.Flag{doneKeyword}
	if uidplus {
		flags = append(flags, imap.FlagDeleted)
	}
	g = c.guard(ctx)
	err = c.c.Store(mark, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close()
	if err = g.done(err); err != nil {
		return fmt.Errorf("store flags: %w", err)
	}
	if !uidplus {
		return nil
	}
	g = c.guard(ctx)
	err = c.c.UIDExpunge(mark).Close()
	if err = g.done(err); err != nil {
		return fmt.Errorf("uid expunge: %w", err)
	}
	return nil
}

// ensureFolder creates dest unless it is known to exist, and subscribes to
// it so that people see it in their mail clients.
func (c *IMAPConn) ensureFolder(ctx context.Context, dest string) error {
	if c.created[dest] {
		return nil
	}
	g := c.guard(ctx)
	err := c.c.Create(dest, nil).Wait()
	err = g.done(err)
	var ie *imap.Error
	switch {
	case err == nil:
		g := c.guard(ctx)
		if serr := g.done(c.c.Subscribe(dest).Wait()); serr != nil {
			c.log.Warn("imap subscribe failed", "folder", dest, "err", serr)
		}
	case errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists:
	case errors.As(err, &ie):
		// Not every server says ALREADYEXISTS: ask whether it is there.
		g := c.guard(ctx)
		list, lerr := c.c.List("", dest, nil).Collect()
		if lerr = g.done(lerr); lerr != nil || len(list) == 0 {
			return c.wrap("create "+dest, err)
		}
	default:
		return c.wrap("create "+dest, err)
	}
	c.created[dest] = true
	return nil
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}
