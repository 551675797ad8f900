package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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

	// pending are moves of handled (and checkpointed) mail not yet made,
	// by folder. They survive reconnections; across restarts the
	// processor's Unmoved brings them back.
	pending map[string][]*outcome
	// probe is set after the processor failed: the next chunk is a single
	// message, so that retrying while the store is down costs the server
	// one message, not a batch of up to 64 MiB.
	probe bool
	// leases are the folders' leases while the source runs with
	// IMAPOptions.Leases; nil polls every folder.
	leases *folderLeases
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
		pending: map[string][]*outcome{},
	}, nil
}

// Name returns the mailbox's configured name, the key of its checkpoints.
func (s *IMAPSource) Name() string { return s.cfg.Name }

// Run polls until ctx ends (it then returns nil) or a permanent failure
// occurs (it returns that error). Temporary failures, from the server or
// from h, are logged and retried after a backoff.
func (s *IMAPSource) Run(ctx context.Context, p Processor) error {
	return s.run(ctx, p, false)
}

// RunOnce connects, handles the mail that is there now in every folder,
// makes the moves, and returns. It retries nothing. With leases it handles
// the folders whose lease it gets, and returns an error wrapping
// ErrLeaseHeld when other replicas hold them all.
func (s *IMAPSource) RunOnce(ctx context.Context, p Processor) error {
	return s.run(ctx, p, true)
}

func (s *IMAPSource) run(ctx context.Context, p Processor, once bool) error {
	if s.opts.Leases != nil {
		// The leases outlive ctx until the work in hand is done, moves
		// included, and are then released.
		keepCtx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
		s.leases = startLeases(keepCtx, s.cfg.Name, s.cfg.Folders, *s.opts.Leases, s.log)
		defer func() {
			stopKeeping()
			s.leases.wait()
			s.leases = nil
		}()
		if once && s.leases.heldCount() == 0 {
			return s.leases.heldElsewhere()
		}
	}
	bo, pbo := *s.opts.Backoff, *s.opts.ProcessBackoff
	bo.Reset()
	pbo.Reset()
	reset := func() { bo.Reset(); pbo.Reset() }
	for {
		if s.leases != nil && !s.leases.waitHeld(ctx) {
			return nil
		}
		sctx, stop := s.leases.sessionContext(ctx)
		err := s.session(sctx, p, reset, once)
		stop()
		if ctx.Err() != nil {
			return nil
		}
		if lost := leaseLost(sctx); lost != nil || errors.Is(err, errLeasesChanged) {
			// Not a failure: the session stopped at once, and the next
			// one polls the folders held then.
			if once && lost != nil {
				return fmt.Errorf("ingest: mailbox %q: %w", s.cfg.Name, lost)
			}
			continue
		}
		if once || IsPermanent(err) {
			return err
		}
		retry, msg := &bo, "imap mailbox unavailable; retrying"
		var herr *handlerError
		if errors.As(err, &herr) {
			// The server is fine; the store or the ledger is not.
			retry, msg = &pbo, "mail could not be processed (is the store or the ledger down?); retrying"
			s.probe = true
		}
		d := retry.Next()
		s.log.Warn(msg, "err", err, "retry_in", d.String(), "attempt", retry.Attempts())
		if !Sleep(ctx, d) {
			return nil
		}
	}
}

// session is one connection's life: passes over the folders, then waits.
// reset starts the backoffs afresh.
func (s *IMAPSource) session(ctx context.Context, p Processor, reset func(), once bool) error {
	conn, err := DialIMAP(ctx, s.cfg, &s.opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		gained := s.leases.gainedChan()
		idle := ""
		for _, folder := range s.cfg.Folders {
			if !s.leases.holds(folder) {
				continue // another replica polls it
			}
			if idle == "" {
				idle = folder
			}
			if err := s.pass(ctx, conn, folder, p); err != nil {
				return err
			}
		}
		if idle == "" {
			return errLeasesChanged
		}
		reset() // a whole pass worked: the next failure starts afresh
		if once {
			return nil
		}
		// IDLE watches one folder; others are polled at poll_interval.
		wait := s.opts.IdleRestart
		if len(s.cfg.Folders) > 1 {
			wait = s.cfg.PollInterval.D()
		}
		if err := s.waitForNew(ctx, conn, idle, wait, gained); err != nil {
			return err
		}
	}
}

// waitForNew waits for news in folder for at most max, or until gained is
// closed (a lease was gained: errLeasesChanged, or nil when it was closed
// before the wait began).
func (s *IMAPSource) waitForNew(ctx context.Context, conn *IMAPConn, folder string, max time.Duration, gained <-chan struct{}) error {
	if gained == nil {
		_, err := conn.WaitForNew(ctx, folder, max)
		return err
	}
	select {
	case <-gained:
		return nil // pass again, over the folders held now
	default:
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-gained:
			cancel(errLeasesChanged) // closes the connection: a new session
		case <-done:
		}
	}()
	_, err := conn.WaitForNew(wctx, folder, max)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errLeasesChanged) {
		return errLeasesChanged
	}
	return err
}

// handlerError marks an error that came from the processor, not the server.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return "handler: " + e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// pass handles the new mail of one folder: first the moves an earlier run
// left undone, then the new mail in chunks. Within a chunk, messages are
// fetched on this connection and processed by the workers; after it, the
// handled ones are moved and the checkpoint is saved past them. The
// checkpoint never passes a message that has not been moved, so a crash
// means the message is offered again, never that it stays in the folder.
func (s *IMAPSource) pass(ctx context.Context, conn *IMAPConn, folder string, p Processor) error {
	if err := s.finishMoves(ctx, conn, folder, p); err != nil {
		return err
	}
	cp, err := s.store.LoadCheckpoint(ctx, s.cfg.Name, folder)
	if err != nil {
		return fmt.Errorf("ingest: mailbox %q: load checkpoint of %s: %w", s.cfg.Name, folder, err)
	}
	for {
		err := s.chunks(ctx, conn, folder, cp, p)
		if !errors.Is(err, ErrUIDValidityChanged) {
			return err
		}
		// The old UIDs mean nothing now (RFC 4549 4.1): start the folder
		// over. Mail already kept comes again; the ledger knows it by its
		// hash.
		s.log.Warn("imap folder UIDVALIDITY changed; fetching the whole folder again", "folder", folder, "err", err)
		cp = Checkpoint{}
		if err := s.store.SaveCheckpoint(ctx, s.cfg.Name, folder, cp); err != nil {
			return fmt.Errorf("ingest: mailbox %q: reset checkpoint of %s: %w", s.cfg.Name, folder, err)
		}
	}
}

// outcome is what processing one message came to.
type outcome struct {
	m    *Message
	held int64 // of the workers' queued budget, for m's bytes in memory
	dest Destination
	err  error
	done chan struct{} // closed when dest and err are set
}

// queuedBatches is how many batches of messages may wait for the workers.
// One batch is fetched whole before any of it is handed on, and a chunk's
// moves stop the fetching: the queue must outlast both, or the workers
// idle. In the ingest benchmark (4,000 mails, 16 workers) the workers'
// idle time went from 14.4 s in all to 7.6 s when the queue went from one
// batch to three.
const queuedBatches = 3

// workers is the pool processing the messages of one pass.
type workers struct {
	jobs chan *outcome
	// queued bounds the bytes of the messages held in memory (Data) that
	// wait in jobs or are in hand: BatchBytes, as one fetch.
	queued  *memBudget
	wg      sync.WaitGroup
	commits sync.WaitGroup // deferred commits still running
	failed  atomic.Bool    // set at the first failure: the rest is skipped
}

// startWorkers starts the pass's pool. Work in hand finishes even when ctx
// ends (SIGTERM): a half-stored message would only be redone, but
// finishing it is cheaper.
func (s *IMAPSource) startWorkers(ctx context.Context, p Processor) *workers {
	w := &workers{
		jobs:   make(chan *outcome, queuedBatches*s.opts.BatchSize),
		queued: newMemBudget(s.opts.BatchBytes),
	}
	workCtx := context.WithoutCancel(ctx)
	// A Pipeline hands back the commit of a new message's records
	// (processDeferred), which runs on a goroutine of its own while the
	// worker takes the next message. Any other Processor, a wrapper of a
	// Pipeline included, is waited for.
	process := func(m *Message) (Destination, func() (Destination, error), error) {
		dest, err := p.Process(workCtx, m)
		return dest, nil, err
	}
	if pipe, ok := p.(*Pipeline); ok {
		process = func(m *Message) (Destination, func() (Destination, error), error) {
			return pipe.processDeferred(workCtx, m)
		}
	}
	for range s.opts.Workers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for o := range w.jobs {
				var commit func() (Destination, error)
				if w.failed.Load() || ctx.Err() != nil {
					o.err = errSkipped
				} else if o.dest, commit, o.err = process(o.m); o.err != nil {
					w.failed.Store(true)
				}
				if o.m.Path != "" {
					os.Remove(o.m.Path)
				}
				o.m.Data = nil // the outcome waits for its move; the bytes need not
				w.queued.release(o.held)
				if commit == nil {
					close(o.done)
					continue
				}
				w.commits.Add(1)
				go func() {
					defer w.commits.Done()
					o.dest, o.err = commit()
					if o.err != nil {
						w.failed.Store(true)
					}
					close(o.done)
				}()
			}
		}()
	}
	return w
}

// stop lets the workers finish what they were given, commits included,
// and waits for them.
func (w *workers) stop() {
	close(w.jobs)
	w.wg.Wait()
	w.commits.Wait()
}

// chunk is the mail of one fetch: up to ChunkSize messages.
type chunk struct {
	outcomes []*outcome
	more     bool  // new mail was left for the next chunk
	err      error // the fetch's, nil or errSkipped when it was stopped by a failure
}

// chunks fetches and handles folder's new mail after cp, a chunk at a
// time. Chunks overlap: while the workers finish one, the next is fetched,
// and the first is moved and checkpointed once the second is fetched. So
// the workers are not left idle while a chunk's last messages are
// processed and its mail is moved, which took a tenth of the time.
func (s *IMAPSource) chunks(ctx context.Context, conn *IMAPConn, folder string, cp Checkpoint, p Processor) error {
	w := s.startWorkers(ctx, p)
	defer w.stop()
	var prev *chunk
	from := cp // where the next fetch starts; the checkpoint follows behind
	for {
		// A probe (one message, after the processor failed) is finished
		// before more is fetched.
		probing := s.probe
		cur := s.fetchChunk(ctx, conn, folder, from, w)
		if prev != nil {
			var err error
			cp, err = s.finishChunk(ctx, conn, folder, cp, prev, p)
			if err != nil && (ctx.Err() == nil || !errors.Is(err, ctx.Err())) {
				// cur's messages are processed or skipped by w.stop; what
				// is done of them is answered from the records next time.
				return err
			}
			prev = nil
		}
		more := cur.more && len(cur.outcomes) > 0 // never loop on an empty chunk
		if cur.err != nil || !more || ctx.Err() != nil || w.failed.Load() || probing {
			var err error
			cp, err = s.finishChunk(ctx, conn, folder, cp, cur, p)
			if err != nil || !more || !probing {
				return err
			}
			from = cp // the probe passed: all of it is handled
			continue
		}
		last := cur.outcomes[len(cur.outcomes)-1].m
		from = Checkpoint{UIDValidity: last.UIDValidity, UID: last.UID}
		prev = cur
	}
}

// fetchChunk fetches up to ChunkSize new messages after from and gives
// them to the workers.
func (s *IMAPSource) fetchChunk(ctx context.Context, conn *IMAPConn, folder string, from Checkpoint, w *workers) *chunk {
	c := &chunk{}
	limit := s.opts.ChunkSize
	if s.probe {
		limit = 1
	}
	c.more, c.err = conn.fetchNew(ctx, folder, from, limit, func(m *Message) error {
		if w.failed.Load() {
			return errSkipped // stop fetching; the pass ends with the first error
		}
		// The fetcher removes its spool file (and may reuse *m) when we
		// return: the worker gets a copy, and the file under its own name.
		mine := *m
		m = &mine
		if m.Path != "" {
			owned := m.Path + ".work"
			if err := os.Rename(m.Path, owned); err != nil {
				return fmt.Errorf("ingest: take spool file: %w", err)
			}
			m.Path = owned
		}
		o, err := w.hand(ctx, m)
		c.outcomes = append(c.outcomes, o)
		return err
	})
	return c
}

// hand queues m for the workers, once the bytes it holds in memory fit
// in their queued budget. The outcome is done with ctx's error when ctx
// ends first.
func (w *workers) hand(ctx context.Context, m *Message) (*outcome, error) {
	o := &outcome{m: m, done: make(chan struct{})}
	fail := func(err error) (*outcome, error) {
		o.err = err
		os.Remove(m.Path)
		w.queued.release(o.held)
		close(o.done)
		return o, err
	}
	if m.Data != nil {
		held, err := w.queued.acquire(ctx, int64(len(m.Data)))
		if err != nil {
			return fail(err)
		}
		o.held = held
	}
	select {
	case w.jobs <- o:
		return o, nil
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// finishChunk waits for the workers to finish c, moves its handled prefix
// and saves the checkpoint after it. It returns the new checkpoint and the
// first failure: the processor's, the fetch's, or ctx's.
func (s *IMAPSource) finishChunk(ctx context.Context, conn *IMAPConn, folder string, cp Checkpoint, c *chunk, p Processor) (Checkpoint, error) {
	// The handled prefix, in UID order, up to the first failure.
	var handled []*outcome
	var perr error
	for _, o := range c.outcomes {
		<-o.done
		if o.err != nil {
			if !errors.Is(o.err, errSkipped) {
				perr = &handlerError{o.err}
			}
			break
		}
		handled = append(handled, o)
	}
	if len(handled) > 0 {
		// Durable records first, then the moves, then the checkpoint past
		// them. A move cut short is retried from pending, or after a
		// restart the message is offered again (and answered from the
		// processor's records) or moved from the processor's Unmoved. The
		// checkpoint must not pass mail still to be moved: a second copy of
		// a message has no record of its own, so Unmoved cannot bring its
		// move back, and past the checkpoint it would stay for good.
		// Work in hand finishes when ctx ends, moves included.
		// A lost lease stops even that: another replica may be on the
		// same mail now.
		if err := leaseLost(ctx); err != nil {
			return cp, err
		}
		if err := p.Sync(context.WithoutCancel(ctx)); err != nil {
			return cp, &handlerError{err}
		}
		s.pending[folder] = append(s.pending[folder], handled...)
		if err := s.flushMoves(context.WithoutCancel(ctx), ctx, conn, folder, p); err != nil {
			return cp, err
		}
		if err := leaseLost(ctx); err != nil {
			return cp, err
		}
		last := handled[len(handled)-1].m
		next := Checkpoint{UIDValidity: last.UIDValidity, UID: last.UID}
		if err := s.store.SaveCheckpoint(context.WithoutCancel(ctx), s.cfg.Name, folder, next); err != nil {
			return cp, fmt.Errorf("ingest: mailbox %q: save checkpoint of %s: %w", s.cfg.Name, folder, err)
		}
		cp = next
	}
	switch {
	case perr != nil:
		return cp, perr
	case c.err != nil && !errors.Is(c.err, errSkipped):
		return cp, c.err
	case ctx.Err() != nil:
		return cp, ctx.Err()
	}
	if len(handled) > 0 {
		s.probe = false
	}
	return cp, nil
}

// errSkipped marks messages not processed because an earlier one failed.
var errSkipped = errors.New("ingest: skipped after an earlier failure")

// flushMoves moves folder's pending messages to their destinations, one
// command per destination, and records each move with the processor. It
// makes no move once session (the session's context) is cancelled for a
// lost lease.
func (s *IMAPSource) flushMoves(ctx, session context.Context, conn *IMAPConn, folder string, p Processor) error {
	byDest := map[Destination][]*Message{}
	for _, o := range s.pending[folder] {
		if o.dest != LeaveInPlace && o.m.Skip == "" && s.cfg.MoveTo.Folder(o.dest) != "" {
			byDest[o.dest] = append(byDest[o.dest], o.m)
		}
	}
	dests := make([]Destination, 0, len(byDest))
	for d := range byDest {
		dests = append(dests, d)
	}
	slices.Sort(dests)
	for _, d := range dests {
		msgs := byDest[d]
		uids := make([]uint32, len(msgs))
		for i, m := range msgs {
			uids[i] = m.UID
		}
		to := s.cfg.MoveTo.Folder(d)
		if err := leaseLost(session); err != nil {
			return err // pending stays for when the lease is back
		}
		err := conn.Move(ctx, folder, msgs[0].UIDValidity, uids, to)
		if errors.Is(err, ErrUIDValidityChanged) {
			s.log.Warn("imap folder UIDVALIDITY changed; handled mail stays where it is", "folder", folder, "count", len(uids), "err", err)
			break
		}
		if err != nil {
			return err // pending stays for the next pass
		}
		if err := p.Moved(context.WithoutCancel(ctx), msgs, to); err != nil {
			return &handlerError{err}
		}
	}
	delete(s.pending, folder)
	return nil
}

// finishMoves makes the moves left undone: those a lost connection cut
// short (pending), and those a crash interrupted (the processor's Unmoved).
// Moving a UID that is already gone succeeds, so a move made just before
// the crash is harmless.
func (s *IMAPSource) finishMoves(ctx context.Context, conn *IMAPConn, folder string, p Processor) error {
	todo, err := p.Unmoved(ctx, s.cfg.Name, folder)
	if err != nil {
		return &handlerError{err}
	}
	if len(todo) > 0 {
		st, err := conn.Select(ctx, folder)
		if err != nil {
			return err
		}
		known := map[uint32]bool{}
		for _, o := range s.pending[folder] {
			known[o.m.UID] = true
		}
		n := 0
		for _, u := range todo {
			if u.UIDValidity != st.UIDValidity {
				s.log.Warn("handled message cannot be moved: its folder's UIDVALIDITY changed", "folder", folder, "uid", u.UID, "sha256", u.SHA256)
				continue
			}
			if known[u.UID] {
				continue
			}
			m := &Message{Mailbox: s.cfg.Name, Folder: folder, UIDValidity: u.UIDValidity, UID: u.UID, SHA256: u.SHA256}
			s.pending[folder] = append(s.pending[folder], &outcome{m: m, dest: u.Dest})
			n++
		}
		if n > 0 {
			s.log.Info("finishing moves an earlier run left undone", "folder", folder, "count", n)
		}
	}
	return s.flushMoves(ctx, ctx, conn, folder, p)
}
