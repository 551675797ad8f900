package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// IMAPSource polls one IMAP mailbox for as long as it runs: it connects,
// hands every new message of each folder to a handler in UID order,
// records a checkpoint after each one, moves handled mail to its
// destination folder, waits for news (IDLE, or polling), and reconnects
// with backoff whenever the connection breaks. Bad credentials and other
// permanent failures stop it with an error that says what to fix.
type IMAPSource struct {
	cfg   MailboxConfig
	store CheckpointStore
	opts  IMAPOptions
	log   *slog.Logger

	// pending are moves decided by the handler but not yet done; they
	// survive reconnections (not restarts) and are retried first.
	pending map[string]*pendingMoves
}

type pendingMoves struct {
	uidValidity uint32
	uids        map[Destination][]uint32
}

// NewIMAPSource returns a source for cfg, which gets its defaults and is
// validated here; checkpoints are kept in store.
func NewIMAPSource(cfg MailboxConfig, store CheckpointStore, opts *IMAPOptions) (*IMAPSource, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, permanent(fmt.Errorf("ingest: %w", err))
	}
	o := opts.withDefaults()
	if cfg.Auth == AuthXOAuth2 && o.TokenSource == nil {
		// One source for every connection, so that its cache is used.
		o.TokenSource = NewClientCredentials(cfg, o.HTTPClient)
	}
	return &IMAPSource{
		cfg:     cfg,
		store:   store,
		opts:    o,
		log:     o.Logger.With("mailbox", cfg.Name),
		pending: map[string]*pendingMoves{},
	}, nil
}

// Name returns the mailbox's configured name, the key of its checkpoints.
func (s *IMAPSource) Name() string { return s.cfg.Name }

// Run polls until ctx ends (it then returns nil) or a permanent failure
// occurs (it returns that error). Temporary failures, from the server or
// from h, are logged and retried after a backoff.
func (s *IMAPSource) Run(ctx context.Context, h Handler) error {
	return s.run(ctx, h, false)
}

// RunOnce connects, handles the mail that is there now in every folder,
// makes the moves, and returns. It retries nothing.
func (s *IMAPSource) RunOnce(ctx context.Context, h Handler) error {
	return s.run(ctx, h, true)
}

func (s *IMAPSource) run(ctx context.Context, h Handler, once bool) error {
	bo := *s.opts.Backoff
	bo.Reset()
	for {
		err := s.session(ctx, h, &bo, once)
		if ctx.Err() != nil {
			return nil
		}
		if once || IsPermanent(err) {
			return err
		}
		d := bo.Next()
		s.log.Warn("imap mailbox unavailable; retrying", "err", err, "retry_in", d.String(), "attempt", bo.Attempts())
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// session is one connection's life: passes over the folders, then waits.
func (s *IMAPSource) session(ctx context.Context, h Handler, bo *Backoff, once bool) error {
	conn, err := DialIMAP(ctx, s.cfg, &s.opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		for _, folder := range s.cfg.Folders {
			if err := s.pass(ctx, conn, folder, h); err != nil {
				return err
			}
		}
		bo.Reset() // a whole pass worked: the next failure starts afresh
		if once {
			return nil
		}
		// IDLE watches one folder; others are polled at poll_interval.
		wait := s.opts.IdleRestart
		if len(s.cfg.Folders) > 1 {
			wait = s.cfg.PollInterval.D()
		}
		if _, err := conn.WaitForNew(ctx, s.cfg.Folders[0], wait); err != nil {
			return err
		}
	}
}

// handlerError marks an error that came from the handler, not the server.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return "handler: " + e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// pass handles the new mail of one folder.
func (s *IMAPSource) pass(ctx context.Context, conn *IMAPConn, folder string, h Handler) error {
	if err := s.flushMoves(ctx, conn, folder); err != nil {
		return err
	}
	cp, err := s.store.LoadCheckpoint(ctx, s.cfg.Name, folder)
	if err != nil {
		return fmt.Errorf("ingest: mailbox %q: load checkpoint of %s: %w", s.cfg.Name, folder, err)
	}
	handle := func(m *Message) error {
		dest, err := h(ctx, m)
		if err != nil {
			return &handlerError{err}
		}
		next := Checkpoint{UIDValidity: m.UIDValidity, UID: m.UID}
		if err := s.store.SaveCheckpoint(ctx, s.cfg.Name, folder, next); err != nil {
			return fmt.Errorf("ingest: mailbox %q: save checkpoint of %s: %w", s.cfg.Name, folder, err)
		}
		if dest != LeaveInPlace && s.cfg.MoveTo.Folder(dest) != "" && m.Skip == "" {
			s.queueMove(folder, m.UIDValidity, m.UID, dest)
		}
		return nil
	}
	err = conn.FetchNew(ctx, folder, cp, handle)
	if errors.Is(err, ErrUIDValidityChanged) {
		// The old UIDs mean nothing now (RFC 4549 4.1): start the folder
		// over. Mail already kept comes again; the evidence store knows
		// it by its hash.
		s.log.Warn("imap folder UIDVALIDITY changed; fetching the whole folder again", "folder", folder, "err", err)
		delete(s.pending, folder)
		if err := s.store.SaveCheckpoint(ctx, s.cfg.Name, folder, Checkpoint{}); err != nil {
			return fmt.Errorf("ingest: mailbox %q: reset checkpoint of %s: %w", s.cfg.Name, folder, err)
		}
		err = conn.FetchNew(ctx, folder, Checkpoint{}, handle)
	}
	// Move what was handled even when the pass stopped half-way.
	if merr := s.flushMoves(ctx, conn, folder); err == nil {
		err = merr
	}
	return err
}

func (s *IMAPSource) queueMove(folder string, uidValidity, uid uint32, dest Destination) {
	p := s.pending[folder]
	if p == nil || p.uidValidity != uidValidity {
		p = &pendingMoves{uidValidity: uidValidity, uids: map[Destination][]uint32{}}
		s.pending[folder] = p
	}
	p.uids[dest] = append(p.uids[dest], uid)
}

// flushMoves performs the pending moves of folder, one command per
// destination.
func (s *IMAPSource) flushMoves(ctx context.Context, conn *IMAPConn, folder string) error {
	p := s.pending[folder]
	if p == nil {
		return nil
	}
	dests := make([]Destination, 0, len(p.uids))
	for d := range p.uids {
		dests = append(dests, d)
	}
	slices.Sort(dests)
	for _, d := range dests {
		err := conn.Move(ctx, folder, p.uidValidity, p.uids[d], s.cfg.MoveTo.Folder(d))
		if errors.Is(err, ErrUIDValidityChanged) {
			s.log.Warn("imap folder UIDVALIDITY changed; handled mail stays where it is", "folder", folder, "count", len(p.uids[d]), "err", err)
			delete(s.pending, folder)
			return nil
		}
		if err != nil {
			return err
		}
		delete(p.uids, d)
	}
	delete(s.pending, folder)
	return nil
}
