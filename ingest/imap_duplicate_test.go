package ingest_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/claimtrail/claimtrail/ingest"
)

// copyFailsFirst refuses the first COPY commands, as a server briefly out
// of quota does; the next ones work.
type copyFailsFirst struct {
	imapserver.Session
	left *atomic.Int32
}

func (s copyFailsFirst) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if s.left.Add(-1) >= 0 {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded"}
	}
	return s.Session.Copy(numSet, dest)
}

// A second copy of a message (the same bytes under another UID) that was
// handled but not moved when the run ended must be moved by the next run.
// The ledger knows only the first copy, so Unmoved cannot bring it back:
// the checkpoint must not have passed it. Found by the crash test in
// cmd/claimtrail, which left such a copy in INBOX for good.
func TestSecondCopyUnmovedAtCrashIsMovedNextRun(t *testing.T) {
	var fails atomic.Int32
	fails.Store(1)
	cfg, u := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		func(s imapserver.Session) imapserver.Session { return copyFailsFirst{s, &fails} })
	dup, err := os.ReadFile("../testdata/mail/rejected-personal-gmail.eml")
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile("../testdata/mail/accepted-contoso-outlook-html.eml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][]byte{dup, other, dup} {
		memAppend(t, u, "INBOX", m)
	}
	e := newPipelineEnv(t)
	ctx := context.Background()

	// The first run handles all three, then its moves fail and it ends,
	// as a run killed before its moves would.
	first, err := ingest.NewIMAPSource(cfg, e.pipe, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.RunOnce(ctx, e.pipe); err == nil {
		t.Fatal("RunOnce with a failing COPY: no error")
	}

	// A new run, with nothing of the first one's memory.
	next, err := ingest.NewIMAPSource(cfg, e.pipe, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := next.RunOnce(ctx, e.pipe); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	status, err := u.Status("INBOX", &imap.StatusOptions{NumMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := *status.NumMessages; n != 0 {
		t.Errorf("INBOX holds %d messages after the second run, want 0", n)
	}
	for folder, want := range map[string]uint32{"Rejected": 2, "Accepted": 1} {
		st, err := u.Status(folder, &imap.StatusOptions{NumMessages: true})
		if err != nil {
			t.Fatalf("status %s: %v", folder, err)
		}
		if *st.NumMessages != want {
			t.Errorf("%s holds %d messages, want %d", folder, *st.NumMessages, want)
		}
	}
}
