package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
)

// Jobs of run that must happen once per installation, not once per
// replica: each runs on the one replica holding its lease ("job:" and the
// job's name), as each folder is polled by the holder of the folder's.
const (
	// jobReminders sends the deadline reminders: two replicas reading the
	// same reminders due would both send them.
	jobReminders = "reminders"
	// jobAnchor anchors the audit trail's head in the store.
	jobAnchor = "anchor"
	// jobExpire expires the claims whose deadline passed.
	jobExpire = "expire-claims"
	// jobServiceHealth reads the open claims' incidents from Graph again.
	jobServiceHealth = "service-health"
)

// jobLeaseName is the lease of job: "job:reminders".
func jobLeaseName(job string) string { return "job:" + job }

// errJobLeaseLost is the cause of the cancellation of a round whose
// replica lost the job's lease.
var errJobLeaseLost = errors.New("job lease lost")

// singleton runs a job's rounds on the one replica, of those sharing a
// ledger, that holds the job's lease. The holder keeps the lease between
// rounds (renewing it every TTL/3), so that the job stays on one replica
// until it stops or dies; the others try every Retry and take the job
// over once the lease is released or expired.
type singleton struct {
	job  string
	opts ingest.LeaseOptions // with defaults
	log  *slog.Logger
}

func newSingleton(job string, opts ingest.LeaseOptions, log *slog.Logger) *singleton {
	if opts.TTL <= 0 {
		opts.TTL = ingest.DefaultLeaseTTL
	}
	if opts.Retry <= 0 {
		opts.Retry = ingest.DefaultLeaseRetry
	}
	return &singleton{job: job, opts: opts, log: log.With("job", job, "lease", jobLeaseName(job), "replica", opts.Holder)}
}

// run holds or waits for the job's lease until ctx ends. While it is
// held, round runs at once when atOnce (else after every), then every
// interval; a round's context is cancelled, cause errJobLeaseLost, when
// the lease is lost or not renewed in time. At the end a held lease is
// released, so that another replica takes the job at once.
func (s *singleton) run(ctx context.Context, every time.Duration, atOnce bool, round func(context.Context)) {
	var seen string // the other holder last logged
	for ctx.Err() == nil {
		lease, ok := s.acquire(ctx, &seen)
		if !ok {
			if !ingest.Sleep(ctx, s.opts.Retry) {
				return
			}
			continue
		}
		s.gained(lease)
		hctx, release := s.hold(ctx, lease)
		rounds(hctx, every, atOnce, round)
		if release() {
			return
		}
		seen = ""
		// Lost: another replica may have it now; try again after Retry.
		if !ingest.Sleep(ctx, s.opts.Retry) {
			return
		}
	}
}

// rounds calls round at once when atOnce, then every interval, until ctx
// ends.
func rounds(ctx context.Context, every time.Duration, atOnce bool, round func(context.Context)) {
	if atOnce {
		round(ctx)
	}
	repeat(ctx, every, round)
}

// once runs one round if the job's lease can be had, and releases it
// after; otherwise it returns the lease as another replica holds it (for
// run --once and the last anchor at shutdown). An error means the lease
// could not be read or taken.
func (s *singleton) once(ctx context.Context, round func(context.Context)) (elsewhere archive.Lease, err error) {
	lease, err := s.opts.Store.AcquireLease(ctx, jobLeaseName(s.job), s.opts.Holder, s.opts.TTL)
	if err != nil {
		return archive.Lease{}, fmt.Errorf("job %s: %w", s.job, err)
	}
	if !lease.Held {
		s.log.Info("job run by another replica; skipped", "holder", lease.Holder, "expires", lease.Expires.Format(time.RFC3339))
		return lease, nil
	}
	s.gained(lease)
	hctx, release := s.hold(ctx, lease)
	round(hctx)
	if !release() && ctx.Err() == nil {
		return archive.Lease{}, fmt.Errorf("job %s: %w", s.job, context.Cause(hctx))
	}
	return archive.Lease{}, nil
}

// acquire makes one attempt at the lease: ok when this replica holds it.
// A holder other than *seen is logged once.
func (s *singleton) acquire(ctx context.Context, seen *string) (archive.Lease, bool) {
	lease, err := s.opts.Store.AcquireLease(ctx, jobLeaseName(s.job), s.opts.Holder, s.opts.TTL)
	switch {
	case ctx.Err() != nil:
		if err == nil && lease.Held {
			// Taken as the replica stops: give it back.
			s.releaseLease(ctx)
		}
		return archive.Lease{}, false
	case err != nil:
		s.log.Warn("job lease could not be acquired; trying again", "err", err, "retry_in", s.opts.Retry.String())
		return archive.Lease{}, false
	case !lease.Held:
		if lease.Holder != *seen {
			*seen = lease.Holder
			s.log.Info("job run by another replica; standing by", "holder", lease.Holder,
				"expires", lease.Expires.Format(time.RFC3339), "retry_every", s.opts.Retry.String())
		}
		return lease, false
	}
	return lease, true
}

// gained logs and counts a lease just acquired.
func (s *singleton) gained(lease archive.Lease) {
	if s.opts.Observer != nil {
		s.opts.Observer.LeaseHeld(true)
	}
	if lease.TakenFrom != "" {
		s.log.Warn("job lease taken over from a replica that stopped renewing it", "from", lease.TakenFrom, "expired_for", lease.ExpiredFor.String())
		return
	}
	s.log.Info("job lease acquired; running the job")
}

// hold renews the lease, acquired at about now, every TTL/3 until ctx
// ends or a renewal fails, finds the lease taken, or does not succeed
// within 2/3 of TTL of the last: then the returned context is cancelled
// with a cause wrapping errJobLeaseLost. release ends the holding (call
// it once the work under the lease is done): it releases the lease when
// ctx ended with the lease still held, and reports whether it did, false
// when the lease was lost.
func (s *singleton) hold(ctx context.Context, lease archive.Lease) (context.Context, func() bool) {
	hctx, cancel := context.WithCancelCause(ctx)
	name := jobLeaseName(s.job)
	// The lease may have expired in the eyes of others TTL after the
	// attempt began at the earliest; work stops a margin before.
	last := time.Now()
	expiry := time.AfterFunc(s.opts.TTL*2/3, func() {
		cancel(fmt.Errorf("%w: not renewed in time", errJobLeaseLost))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ingest.Sleep(hctx, s.opts.TTL/3-time.Since(last)) {
			start := time.Now()
			got, err := s.opts.Store.AcquireLease(hctx, name, s.opts.Holder, s.opts.TTL)
			switch {
			case hctx.Err() != nil:
				return
			case err != nil:
				cancel(fmt.Errorf("%w: %w", errJobLeaseLost, err))
				return
			case !got.Held:
				cancel(fmt.Errorf("%w: taken by %s", errJobLeaseLost, got.Holder))
				return
			case time.Since(start) >= s.opts.TTL*2/3:
				cancel(fmt.Errorf("%w: renewal took %s, too long to trust the lease", errJobLeaseLost, time.Since(start).Round(time.Millisecond)))
				return
			}
			last = start
			expiry.Reset(time.Until(start.Add(s.opts.TTL * 2 / 3)))
		}
	}()
	return hctx, func() bool {
		cancel(context.Canceled)
		<-done
		expiry.Stop()
		if s.opts.Observer != nil {
			s.opts.Observer.LeaseHeld(false)
		}
		if cause := context.Cause(hctx); errors.Is(cause, errJobLeaseLost) {
			s.log.Error("job lease lost; the job stopped here, another replica takes it over", "err", cause)
			return false
		}
		s.releaseLease(ctx)
		return true
	}
}

// releaseLease gives the lease up, so that a peer may take the job at
// once instead of waiting for it to expire.
func (s *singleton) releaseLease(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.TTL/3)
	defer cancel()
	if err := s.opts.Store.ReleaseLease(rctx, jobLeaseName(s.job), s.opts.Holder); err != nil {
		s.log.Warn("job lease not released; another replica takes the job when it expires", "err", err)
		return
	}
	s.log.Info("job lease released")
}
