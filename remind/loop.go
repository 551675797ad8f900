package remind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// Ledger is what the loop needs of the ledger (archive.Ledger). Every
// method is safe for concurrent use: the channels' goroutines call them
// at once. Their errors are the ledger's (archive.ErrUnavailable when the
// database is busy or gone); the loop logs them and goes on.
type Ledger interface {
	// DueReminders returns the reminders owed on channel at now, soonest
	// deadline first. It changes nothing.
	DueReminders(ctx context.Context, channel string, days []int, now time.Time) ([]archive.Reminder, error)
	// ReminderSent records r as sent, with its audit entry, in one
	// transaction; recording it twice is harmless.
	ReminderSent(ctx context.Context, r archive.Reminder) error
	// ReminderFailed records a failed round of r and returns how many
	// have failed; the first is audited. Each call counts one more.
	ReminderFailed(ctx context.Context, r archive.Reminder, cause string) (int, error)
}

// Channel delivers reminders somewhere: Webhook, Teams, SMTP.
type Channel interface {
	// Name names the channel in the ledger, the audit trail and
	// /metrics; it must not change between runs.
	Name() string
	// Send delivers one reminder. An error wrapping ErrPermanent is not
	// retried in the round; its text must hold no URL or credential. The
	// loop calls Send from one goroutine per channel.
	Send(ctx context.Context, m Message) error
}

// Observer counts what the loop does (web.Metrics); nil counts nothing.
type Observer interface {
	ReminderSent(channel string)
	ReminderFailed(channel string)
}

// Options configure a Loop.
type Options struct {
	Days     []int // the thresholds (claims.ReminderThreshold)
	Channels []Channel
	Observer Observer
	Logger   *slog.Logger
	// BaseURL is the web app's address (web.base_url); "" leaves the
	// claim's link out.
	BaseURL string
	// Attempts is how often a reminder is tried in a round (default 3);
	// Backoff the wait after the first failure (default 2s), doubled after
	// each one.
	Attempts int
	Backoff  time.Duration
	Now      func() time.Time // default time.Now
}

// Loop sends the reminders due, round after round.
type Loop struct {
	ledger Ledger
	opts   Options
}

// New returns a loop over l with opts.
func New(l Ledger, opts Options) *Loop {
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Loop{ledger: l, opts: opts}
}

// Channels builds the channels cfg (with defaults applied) configures,
// in a fixed order: webhook, teams, smtp.
func Channels(cfg Config) []Channel {
	var out []Channel
	if cfg.WebhookURL != "" {
		out = append(out, NewWebhook(cfg.WebhookURL, nil))
	}
	if cfg.TeamsWebhookURL != "" {
		out = append(out, NewTeams(cfg.TeamsWebhookURL, nil))
	}
	if cfg.SMTP.On() {
		out = append(out, NewSMTP(cfg.SMTP))
	}
	return out
}

// Run runs a round at once, then every interval, until ctx ends.
func (l *Loop) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		l.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RoundStats counts one round's reminders, over every channel.
type RoundStats struct {
	Sent, Failed int
}

// Round sends the reminders due now on every channel, each channel in its
// own goroutine so that a slow or failing one holds up no other, and
// returns what it did. A channel whose reminder fails with a temporary
// error after its attempts is left for the next round; one refused for
// good goes on with the next reminder.
func (l *Loop) Round(ctx context.Context) RoundStats {
	var mu sync.Mutex
	var stats RoundStats
	var wg sync.WaitGroup
	for _, ch := range l.opts.Channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := l.channelRound(ctx, ch)
			mu.Lock()
			stats.Sent += s.Sent
			stats.Failed += s.Failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	if stats != (RoundStats{}) {
		l.opts.Logger.Info("reminders: round done", "sent", stats.Sent, "failed", stats.Failed)
	}
	return stats
}

func (l *Loop) channelRound(ctx context.Context, ch Channel) (stats RoundStats) {
	log := l.opts.Logger.With("channel", ch.Name())
	now := l.opts.Now()
	due, err := l.ledger.DueReminders(ctx, ch.Name(), l.opts.Days, now)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("reminders: could not read the claims due; will try again at the next round", "err", err)
		}
		return stats
	}
	for _, r := range due {
		m := Message{Reminder: r, URL: l.claimURL(r.ClaimID), Now: now}
		err := l.sendRetrying(ctx, ch, m)
		if ctx.Err() != nil {
			return stats
		}
		if err == nil {
			stats.Sent++
			if o := l.opts.Observer; o != nil {
				o.ReminderSent(ch.Name())
			}
			if err := l.ledger.ReminderSent(context.WithoutCancel(ctx), r); err != nil {
				log.Error("reminders: sent but not recorded; it may be sent again", "claim", r.ClaimID, "err", err)
			}
			continue
		}
		stats.Failed++
		if o := l.opts.Observer; o != nil {
			o.ReminderFailed(ch.Name())
		}
		n, rerr := l.ledger.ReminderFailed(context.WithoutCancel(ctx), r, err.Error())
		if rerr != nil {
			log.Error("reminders: failure not recorded", "claim", r.ClaimID, "err", rerr)
		}
		if errors.Is(err, ErrPermanent) {
			log.Error("reminders: the channel refused a reminder; fix its configuration (see the error), it is tried again each round",
				"claim", r.ClaimID, "failures", n, "err", err)
			continue
		}
		log.Warn("reminders: the channel fails; the rest wait for the next round", "claim", r.ClaimID, "failures", n,
			"waiting", len(due)-stats.Sent-stats.Failed, "err", err)
		return stats
	}
	return stats
}

// sendRetrying tries m up to Attempts times, waiting Backoff, then twice
// as long, between tries; a permanent error is not tried again.
func (l *Loop) sendRetrying(ctx context.Context, ch Channel, m Message) error {
	wait := l.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		if err = ch.Send(ctx, m); err == nil || errors.Is(err, ErrPermanent) || attempt >= l.opts.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	if err != nil {
		return fmt.Errorf("%s: %w", ch.Name(), err)
	}
	return nil
}

func (l *Loop) claimURL(id int64) string {
	if l.opts.BaseURL == "" {
		return ""
	}
	u, err := url.JoinPath(strings.TrimSuffix(l.opts.BaseURL, "/"), "claims", strconv.FormatInt(id, 10))
	if err != nil {
		return ""
	}
	return u
}
