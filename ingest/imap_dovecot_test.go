package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

const user = ingesttest.DefaultUser

func dial(t *testing.T, cfg ingest.MailboxConfig, opts *ingest.IMAPOptions) *ingest.IMAPConn {
	t.Helper()
	conn, err := ingest.DialIMAP(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("DialIMAP: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fetchAll runs FetchNew and returns the messages it yielded.
func fetchAll(t *testing.T, conn *ingest.IMAPConn, folder string, since ingest.Checkpoint) []fetched {
	t.Helper()
	var mu sync.Mutex
	var got []fetched
	h := collect(t, &mu, &got, nil)
	err := conn.FetchNew(context.Background(), folder, since, func(m *ingest.Message) error {
		_, err := h(context.Background(), m)
		return err
	})
	if err != nil {
		t.Fatalf("FetchNew(%s, %+v): %v", folder, since, err)
	}
	return got
}

func uidsOf(fs []fetched) []uint32 {
	out := make([]uint32, len(fs))
	for i, f := range fs {
		out[i] = f.uid
	}
	return out
}

func TestFetchNewInUIDOrderFromCheckpoint(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	var msgs [][]byte
	for i := range 7 {
		msgs = append(msgs, ingesttest.NewMessage(i, fmt.Sprintf("m%d", i), 2000+i*500))
	}
	uids := d.Append(t, user, "INBOX", msgs...)
	opts := testOptions(t)
	opts.BatchSize = 3 // several UID FETCH batches
	conn := dial(t, d.MailboxConfig(user), opts)

	tests := []struct {
		name  string
		since uint32
		want  []uint32
	}{
		{"from the start", 0, uids},
		{"after the third", uids[2], uids[3:]},
		{"after the last", uids[6], nil},
		{"beyond the last", uids[6] + 100, nil},
	}
	for _, tt := range tests {
		got := fetchAll(t, conn, "INBOX", ingest.Checkpoint{UID: tt.since})
		if !slices.Equal(uidsOf(got), tt.want) {
			t.Errorf("%s: FetchNew UIDs = %v, want %v", tt.name, uidsOf(got), tt.want)
		}
		for _, f := range got {
			i := slices.Index(uids, f.uid)
			sum := sha256.Sum256(msgs[i])
			if f.sha256 != hex.EncodeToString(sum[:]) || f.size != int64(len(msgs[i])) {
				t.Errorf("%s: UID %d: sha256 %s size %d, want %x size %d", tt.name, f.uid, f.sha256, f.size, sum, len(msgs[i]))
			}
			if want := fmt.Sprintf("m%d", i); f.subject != want {
				t.Errorf("%s: UID %d: subject %q, want %q", tt.name, f.uid, f.subject, want)
			}
		}
	}
	if n := spoolFiles(t, opts.SpoolDir); n != 0 {
		t.Errorf("spool directory holds %d files after FetchNew, want 0", n)
	}
}

// "UID SEARCH UID n:*" answers the highest UID even when it is below n
// (RFC 3501 6.4.8). Without filtering, a poll after the last message would
// fetch it again, forever.
func TestFetchNewIgnoresHighestUIDQuirk(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	uids := d.Append(t, user, "INBOX", ingesttest.NewMessage(1, "a", 800), ingesttest.NewMessage(2, "b", 800))
	conn := dial(t, d.MailboxConfig(user), testOptions(t))
	for range 2 {
		if got := fetchAll(t, conn, "INBOX", ingest.Checkpoint{UID: uids[1]}); len(got) != 0 {
			t.Fatalf("FetchNew after the last UID %d yielded UIDs %v, want none", uids[1], uidsOf(got))
		}
	}
	more := d.Append(t, user, "INBOX", ingesttest.NewMessage(3, "c", 800))
	if got := fetchAll(t, conn, "INBOX", ingest.Checkpoint{UID: uids[1]}); !slices.Equal(uidsOf(got), more) {
		t.Errorf("FetchNew after a new append = %v, want %v", uidsOf(got), more)
	}
}

func TestFetchNewLeavesSeenUnset(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	uids := d.Append(t, user, "INBOX", ingesttest.NewMessage(1, "a", 800))
	conn := dial(t, d.MailboxConfig(user), testOptions(t))
	if got := fetchAll(t, conn, "INBOX", ingest.Checkpoint{}); len(got) != 1 {
		t.Fatalf("FetchNew yielded %d messages, want 1", len(got))
	}
	flags := d.Flags(t, user, "INBOX")[uids[0]]
	if slices.Contains(flags, `\Seen`) {
		t.Errorf("flags after FetchNew = %v, want no \\Seen", flags)
	}
}

func TestFetchNewReportsTooLargeAndLeavesItInPlace(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	small1 := ingesttest.NewMessage(1, "small1", 4000)
	big := ingesttest.NewMessage(2, "big", 30000)
	small2 := ingesttest.NewMessage(3, "small2", 4000)
	uids := d.Append(t, user, "INBOX", small1, big, small2)
	cfg := d.MailboxConfig(user)
	cfg.MaxMessageBytes = 10000
	store := newMemCheckpoints()
	src, err := ingest.NewIMAPSource(cfg, store, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []fetched
	if err := src.RunOnce(context.Background(), collect(t, &mu, &got, func(string) ingest.Destination { return ingest.ToAccepted })); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	want := []fetched{
		{uid: uids[0], subject: "small1", skip: ""},
		{uid: uids[1], subject: "", skip: ingest.SkipTooLarge},
		{uid: uids[2], subject: "small2", skip: ""},
	}
	if len(got) != len(want) {
		t.Fatalf("RunOnce handled %v, want UIDs %v", uidsOf(got), uids)
	}
	for i := range want {
		if got[i].uid != want[i].uid || got[i].subject != want[i].subject || got[i].skip != want[i].skip {
			t.Errorf("message %d = %+v, want uid %d subject %q skip %q", i, got[i], want[i].uid, want[i].subject, want[i].skip)
		}
	}
	if got[1].size != int64(len(big)) || got[1].sha256 != "" {
		t.Errorf("too-large message: size %d sha256 %q, want size %d and no hash", got[1].size, got[1].sha256, len(big))
	}
	if left := d.UIDs(t, user, "INBOX"); !slices.Equal(left, []uint32{uids[1]}) {
		t.Errorf("INBOX after RunOnce holds %v, want only the too-large %d", left, uids[1])
	}
	if flags := d.Flags(t, user, "INBOX")[uids[1]]; len(flags) != 0 {
		t.Errorf("too-large message flags = %v, want none", flags)
	}
	if cp := store.get(cfg.Name, "INBOX"); cp.UID != uids[2] {
		t.Errorf("checkpoint = %+v, want UID %d", cp, uids[2])
	}
}

// route sends messages by subject prefix: acc*, rej*, unm*, rest stays.
func route(subject string) ingest.Destination {
	switch {
	case strings.HasPrefix(subject, "acc"):
		return ingest.ToAccepted
	case strings.HasPrefix(subject, "rej"):
		return ingest.ToRejected
	case strings.HasPrefix(subject, "unm"):
		return ingest.ToUnmatched
	}
	return ingest.LeaveInPlace
}

func TestRunOnceMovesToEachDestination(t *testing.T) {
	caps := map[string]string{
		// What Dovecot announces, minus MOVE: COPY, \Deleted, UID EXPUNGE.
		"copy and uid expunge": "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE SORT UIDPLUS",
		// Neither MOVE nor UIDPLUS: COPY, then only the keyword.
		"copy and keyword": "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE SORT",
	}
	for _, name := range []string{"move", "copy and uid expunge", "copy and keyword"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := ingesttest.StartDovecotWith(t, ingesttest.Options{IMAPCapability: caps[name]})
			subjects := []string{"acc1", "rej1", "unm1", "keep1", "acc2", "rej2"}
			var msgs [][]byte
			for i, s := range subjects {
				msgs = append(msgs, ingesttest.NewMessage(i, s, 1500))
			}
			uids := d.Append(t, user, "INBOX", msgs...)
			cfg := d.MailboxConfig(user)
			cfg.MoveTo = ingest.MoveTo{Accepted: "Claims/Accepted", Rejected: "Rejected", Unmatched: "Unmatched"}
			store := newMemCheckpoints()
			src, err := ingest.NewIMAPSource(cfg, store, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []fetched
			for pass := range 2 {
				if err := src.RunOnce(context.Background(), collect(t, &mu, &got, route)); err != nil {
					t.Fatalf("RunOnce pass %d: %v", pass, err)
				}
			}
			if !slices.Equal(uidsOf(got), uids) {
				t.Fatalf("two passes handled %v, want each of %v once", uidsOf(got), uids)
			}
			for folder, want := range map[string]int{"Claims/Accepted": 2, "Rejected": 2, "Unmatched": 1} {
				if n := len(d.UIDs(t, user, folder)); n != want {
					t.Errorf("%s holds %d messages, want %d", folder, n, want)
				}
			}
			inbox := d.Flags(t, user, "INBOX")
			if name == "copy and keyword" {
				// Without UIDPLUS nothing is expunged: the originals stay,
				// marked, and never come back from FetchNew.
				if len(inbox) != len(uids) {
					t.Errorf("INBOX holds %d messages, want all %d", len(inbox), len(uids))
				}
				for i, uid := range uids {
					marked := slices.Contains(inbox[uid], "$ClaimtrailDone")
					if wantMarked := subjects[i] != "keep1"; marked != wantMarked {
						t.Errorf("INBOX UID %d (%s) flags %v: marked %v, want %v", uid, subjects[i], inbox[uid], marked, wantMarked)
					}
					if slices.Contains(inbox[uid], `\Deleted`) {
						t.Errorf("INBOX UID %d flags %v: \\Deleted set without UIDPLUS", uid, inbox[uid])
					}
				}
				conn := dial(t, cfg, testOptions(t))
				if again := fetchAll(t, conn, "INBOX", ingest.Checkpoint{}); !slices.Equal(uidsOf(again), []uint32{uids[3]}) {
					t.Errorf("FetchNew from scratch = %v, want only the unmoved UID %d", uidsOf(again), uids[3])
				}
			} else if left := d.UIDs(t, user, "INBOX"); !slices.Equal(left, []uint32{uids[3]}) {
				t.Errorf("INBOX holds %v, want only UID %d (keep1)", left, uids[3])
			}
		})
	}
}

func TestMoveIsIdempotent(t *testing.T) {
	for _, name := range []string{"move", "copy and uid expunge"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := ingesttest.Options{}
			if name != "move" {
				opts.IMAPCapability = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS"
			}
			d := ingesttest.StartDovecotWith(t, opts)
			uids := d.Append(t, user, "INBOX", ingesttest.NewMessage(1, "a", 900), ingesttest.NewMessage(2, "b", 900))
			conn := dial(t, d.MailboxConfig(user), testOptions(t))
			ctx := context.Background()
			st, err := conn.Select(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := conn.Move(ctx, "INBOX", st.UIDValidity, uids[:1], "Accepted"); err != nil {
					t.Fatalf("Move #%d of UID %d: %v", i+1, uids[0], err)
				}
			}
			if err := conn.Move(ctx, "INBOX", st.UIDValidity, []uint32{uids[1] + 50}, "Accepted"); err != nil {
				t.Errorf("Move of a UID that never existed: %v", err)
			}
			if got := d.UIDs(t, user, "Accepted"); len(got) != 1 {
				t.Errorf("Accepted holds %v, want one message", got)
			}
			if got := d.UIDs(t, user, "INBOX"); !slices.Equal(got, uids[1:]) {
				t.Errorf("INBOX holds %v, want %v", got, uids[1:])
			}
			err = conn.Move(ctx, "INBOX", st.UIDValidity+1, uids[1:], "Accepted")
			if !errors.Is(err, ingest.ErrUIDValidityChanged) {
				t.Errorf("Move under a stale UIDVALIDITY: err = %v, want ErrUIDValidityChanged", err)
			}
		})
	}
}

func TestUIDValidityChangeRefetchesFolder(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	const folder = "Claims"
	d.Append(t, user, folder, ingesttest.NewMessage(1, "a", 900), ingesttest.NewMessage(2, "b", 900))
	cfg := d.MailboxConfig(user)
	cfg.Folders = []string{folder}
	store := newMemCheckpoints()
	src, err := ingest.NewIMAPSource(cfg, store, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []fetched
	h := collect(t, &mu, &got, nil)
	if err := src.RunOnce(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	before := store.get(cfg.Name, folder)

	// A folder deleted and created again gets a new UIDVALIDITY, and its
	// UIDs start over.
	c := d.Dial(t, user)
	if err := c.Delete(folder).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout()
	uids := d.Append(t, user, folder, ingesttest.NewMessage(3, "c", 900))

	conn := dial(t, cfg, testOptions(t))
	err = conn.FetchNew(context.Background(), folder, before, func(*ingest.Message) error { return nil })
	if !errors.Is(err, ingest.ErrUIDValidityChanged) {
		t.Fatalf("FetchNew with the old checkpoint: err = %v, want ErrUIDValidityChanged", err)
	}

	got = nil
	if err := src.RunOnce(context.Background(), h); err != nil {
		t.Fatalf("RunOnce after the change: %v", err)
	}
	if !slices.Equal(uidsOf(got), uids) || got[0].subject != "c" {
		t.Errorf("RunOnce after the change handled %+v, want UID %v (c)", got, uids)
	}
	after := store.get(cfg.Name, folder)
	if after.UIDValidity == before.UIDValidity || after.UID != uids[0] {
		t.Errorf("checkpoint after the change = %+v, want a new UIDVALIDITY (was %d) and UID %d", after, before.UIDValidity, uids[0])
	}
}

func TestWaitForNewWakesOnAppendFromAnotherClient(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	conn := dial(t, d.MailboxConfig(user), testOptions(t))
	ctx := context.Background()
	if !conn.Capable("IDLE") {
		t.Fatal("Dovecot does not announce IDLE")
	}
	done := make(chan struct{})
	var news bool
	var err error
	go func() {
		defer close(done)
		// Long enough that only the server's EXISTS can end it.
		news, err = conn.WaitForNew(ctx, "INBOX", time.Hour)
	}()
	// The IDLE may not have begun yet; append until the waiter returns.
	for i := 0; ; i++ {
		d.Append(t, user, "INBOX", ingesttest.NewMessage(i, "new", 700))
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
			if i < 50 {
				continue
			}
			t.Fatal("WaitForNew did not return after 50 appends")
		}
		break
	}
	if err != nil || !news {
		t.Fatalf("WaitForNew = %v, %v; want true, nil", news, err)
	}
	if got := fetchAll(t, conn, "INBOX", ingest.Checkpoint{}); len(got) == 0 {
		t.Errorf("FetchNew after the wake-up found nothing")
	}
}

func TestWaitForNewTimesOutQuietly(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	opts := testOptions(t)
	opts.IdleRestart = 100 * time.Millisecond // several IDLE + NOOP rounds
	conn := dial(t, d.MailboxConfig(user), opts)
	news, err := conn.WaitForNew(context.Background(), "INBOX", 450*time.Millisecond)
	if err != nil || news {
		t.Errorf("WaitForNew on a quiet folder = %v, %v; want false, nil", news, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := conn.WaitForNew(ctx, "INBOX", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitForNew with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// Dovecot restarts while the source is half-way through the folder: after
// reconnecting it must carry on from its checkpoint, so every message is
// handled exactly once and moved.
func TestRunReconnectsAfterRestartMidFetch(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	const total = 60
	var msgs [][]byte
	for i := range total {
		msgs = append(msgs, ingesttest.NewMessage(i, fmt.Sprintf("acc%d", i), 1200))
	}
	uids := d.Append(t, user, "INBOX", msgs...)
	store := newMemCheckpoints()
	opts := testOptions(t)
	opts.BatchSize = 10
	opts.IdleRestart = time.Second
	src, err := ingest.NewIMAPSource(d.MailboxConfig(user), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := map[uint32]int{}
	var order []uint32
	restarted := false
	h := ingest.Handler(func(_ context.Context, m *ingest.Message) (ingest.Destination, error) {
		seen[m.UID]++
		order = append(order, m.UID)
		if len(order) == 25 && !restarted {
			// Mid-batch: the rest of this batch is spooled, the next
			// batch's FETCH will hit the dead connection.
			restarted = true
			d.Stop()
			d.Start()
		}
		if len(order) == total {
			cancel()
		}
		return ingest.ToAccepted, nil
	})
	if err := src.Run(ctx, h); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, u := range uids {
		if seen[u] != 1 {
			t.Errorf("UID %d handled %d times, want once", u, seen[u])
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("handling order %v is not UID order", order)
	}
	if cp := store.get(src.Name(), "INBOX"); cp.UID != uids[total-1] {
		t.Errorf("checkpoint = %+v, want UID %d", cp, uids[total-1])
	}
	// Moves of the last messages may have been cut short by the cancel;
	// one more pass finishes them without handling anything again.
	if err := src.RunOnce(context.Background(), h); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if left := d.UIDs(t, user, "INBOX"); len(left) != 0 {
		t.Errorf("INBOX still holds %v", left)
	}
	if n := len(d.UIDs(t, user, "Accepted")); n != total {
		t.Errorf("Accepted holds %d messages, want %d", n, total)
	}
}

func TestBadPasswordIsPermanent(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	cfg := d.MailboxConfig(user)
	cfg.Password = "wrong"
	_, err := ingest.DialIMAP(context.Background(), cfg, testOptions(t))
	if !ingest.IsPermanent(err) || !errors.Is(err, ingest.ErrBadCredentials) {
		t.Fatalf("DialIMAP with a wrong password: err = %v, want permanent ErrBadCredentials", err)
	}
	if want := fmt.Sprintf("check username/password for mailbox %q", cfg.Name); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	handled := 0
	err = src.Run(context.Background(), ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
		handled++
		return ingest.LeaveInPlace, nil
	}))
	if !errors.Is(err, ingest.ErrBadCredentials) {
		t.Errorf("Run with a wrong password: err = %v, want ErrBadCredentials", err)
	}
	// One refused login from DialIMAP, one from Run: no retry loop.
	if n := countLogLines(t, d, "auth failed"); n != 2 {
		t.Errorf("dovecot logged %d refused logins, want 2", n)
	}
}

func countLogLines(t *testing.T, d *ingesttest.Dovecot, substr string) int {
	t.Helper()
	// Dovecot writes a login's outcome when the connection ends.
	time.Sleep(200 * time.Millisecond)
	b, err := os.ReadFile(d.Dir + "/dovecot.log")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte(substr))
}

func TestMissingFolderIsPermanent(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	cfg := d.MailboxConfig(user)
	cfg.Folders = []string{"NoSuchFolder"}
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	err = src.Run(context.Background(), ingest.Handler(func(context.Context, *ingest.Message) (ingest.Destination, error) {
		return ingest.LeaveInPlace, nil
	}))
	if !ingest.IsPermanent(err) || !strings.Contains(err.Error(), "check folders") {
		t.Errorf("Run on a missing folder: err = %v, want a permanent error that says to check folders", err)
	}
}

func TestDialSecurityModes(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	tests := []struct {
		name      string
		security  ingest.Security
		port      int
		caFile    string
		permanent bool // want a permanent failure that names the problem
	}{
		{"tls with CA file", ingest.SecurityTLS, d.TLSPort, d.CAFile, false},
		{"starttls with CA file", ingest.SecurityStartTLS, d.Port, d.CAFile, false},
		{"insecure", ingest.SecurityInsecure, d.Port, "", false},
		{"tls without CA file", ingest.SecurityTLS, d.TLSPort, "", true},
		{"starttls without CA file", ingest.SecurityStartTLS, d.Port, "", true},
		{"tls to the plain port", ingest.SecurityTLS, d.Port, d.CAFile, true},
	}
	for _, tt := range tests {
		cfg := d.MailboxConfig(user)
		cfg.Security, cfg.Port, cfg.TLSCAFile = tt.security, tt.port, tt.caFile
		conn, err := ingest.DialIMAP(context.Background(), cfg, testOptions(t))
		if tt.permanent {
			if !ingest.IsPermanent(err) || !strings.Contains(fmt.Sprint(err), "certificate") && !strings.Contains(fmt.Sprint(err), "does not speak TLS") {
				t.Errorf("%s: DialIMAP err = %v, want a permanent error about the certificate or TLS", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: DialIMAP: %v", tt.name, err)
			continue
		}
		if _, err := conn.Select(context.Background(), "INBOX"); err != nil {
			t.Errorf("%s: Select: %v", tt.name, err)
		}
		conn.Close()
	}
}

// Run picks up mail that arrives while it waits: by IDLE, or by polling
// every poll_interval on a server without IDLE.
func TestRunHandlesMailArrivingLater(t *testing.T) {
	for _, name := range []string{"idle", "polling"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := ingesttest.Options{}
			if name == "polling" {
				opts.IMAPCapability = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE SORT UIDPLUS MOVE"
			}
			d := ingesttest.StartDovecotWith(t, opts)
			d.Append(t, user, "INBOX", ingesttest.NewMessage(1, "acc-early", 900))
			src, err := ingest.NewIMAPSource(d.MailboxConfig(user), newMemCheckpoints(), testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			handled := make(chan string, 10)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- src.Run(ctx, ingest.Handler(func(_ context.Context, m *ingest.Message) (ingest.Destination, error) {
					b, err := os.ReadFile(m.Path)
					if err != nil {
						return "", err
					}
					handled <- subjectOf(b)
					return ingest.ToAccepted, nil
				}))
			}()
			wait := func(want string) {
				t.Helper()
				select {
				case got := <-handled:
					if got != want {
						t.Errorf("handled %q, want %q", got, want)
					}
				case err := <-done:
					t.Fatalf("Run returned %v before handling %q", err, want)
				case <-time.After(30 * time.Second):
					t.Fatalf("%q not handled within 30s", want)
				}
			}
			wait("acc-early")
			d.Append(t, user, "INBOX", ingesttest.NewMessage(2, "acc-late", 900))
			wait("acc-late")
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
			if n := len(d.UIDs(t, user, "Accepted")); n != 2 {
				t.Errorf("Accepted holds %d messages, want 2", n)
			}
		})
	}
}
