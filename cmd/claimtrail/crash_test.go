package main

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/archive/archivetest"
	"github.com/claimtrail/claimtrail/evidence/evidencetest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// Issue 4's crash test: `claimtrail run` ingests 500 messages while it is
// killed with SIGKILL at random moments and restarted; then every message
// has exactly one ledger row and one bundle, the mailbox holds nothing
// unprocessed, and the audit trail verifies.
//
// The kills come after random delays drawn from a seeded generator; the
// seed is logged, and CLAIMTRAIL_CRASH_SEED=<seed> replays a run.

const (
	crashMessages = 500 // distinct raw messages
	crashDups     = 10  // of them appended a second time, byte for byte
	// crashHugeEvery: every so many generated messages is one of 5 MiB,
	// which run spools to a file rather than holding it (memoryBytes).
	crashHugeEvery = 100
	crashKills     = 12 // runs 3, 7 and 11 live 1-2.5 s, the last 50-300 ms, the others 50-800 ms
	// crashWaves: the mail arrives over the restarts, as it would, so
	// that the kills land while there is work in hand.
	crashWaves = crashKills
	crashMinUp = 50 * time.Millisecond
	crashMaxUp = 800 * time.Millisecond
)

func TestCrashKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the real binary for a minute")
	}
	bin := buildClaimtrail(t)
	seed := crashSeed(t)
	t.Run("dir", func(t *testing.T) {
		crashTest(t, bin, seed, archive.StoreConfig{Store: "dir"})
	})
	t.Run("minio", func(t *testing.T) {
		m := archivetest.StartMinIO(t)
		crashTest(t, bin, seed, m.Config(m.NewBucket()))
	})
}

// crashSeed is CLAIMTRAIL_CRASH_SEED, or the clock.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CLAIMTRAIL_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CLAIMTRAIL_CRASH_SEED=%s: %v", s, err)
		}
	}
	t.Logf("seed %d (replay with CLAIMTRAIL_CRASH_SEED=%d)", seed, seed)
	return seed
}

// crashMail is the test's mailbox content in append order: the corpus,
// then generated mail up to crashMessages distinct messages, with
// crashDups of them again at random places.
func crashMail(t *testing.T, rng *rand.Rand) [][]byte {
	var msgs [][]byte
	for _, f := range corpusFilesFrom(t, "../../testdata/mail") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, raw)
	}
	run := strconv.FormatUint(rng.Uint64(), 36)
	for n := len(msgs); n < crashMessages; n++ {
		if n%crashHugeEvery == 0 {
			// Larger than run holds in memory: spooled to a file, and
			// bundled in one.
			msgs = append(msgs, evidencetest.MailOfSize(rng, run, n, evidencetest.Large, memoryBytes+1<<20))
			continue
		}
		msgs = append(msgs, evidencetest.Mail(rng, run, n, evidencetest.PickClass(rng)))
	}
	for range crashDups {
		dup := msgs[rng.IntN(len(msgs))]
		i := rng.IntN(len(msgs) + 1)
		msgs = append(msgs[:i], append([][]byte{dup}, msgs[i:]...)...)
	}
	return msgs
}

func crashTest(t *testing.T, bin string, seed uint64, store archive.StoreConfig) {
	rng := rand.New(rand.NewPCG(seed, 0xc1a1))
	d := ingesttest.StartDovecot(t)
	user := ingesttest.DefaultUser
	p := newPollerSetup(t, d, user, store)

	// Staged in a folder nobody polls, so that the test knows the bytes
	// the server serves (it may mend line ends), then delivered in waves.
	msgs := crashMail(t, rng)
	uids := d.Append(t, user, "Incoming", msgs...)
	staged := folderMessages(t, d, user, "Incoming")
	copies := map[string]int{}
	var bytes int
	for _, u := range uids {
		copies[staged[u]]++
	}
	for _, m := range msgs {
		bytes += len(m)
	}
	if len(staged) != len(msgs) || len(copies) != crashMessages {
		t.Fatalf("staged %d messages, %d distinct; want %d, %d", len(staged), len(copies), len(msgs), crashMessages)
	}
	t.Logf("%d messages (%d distinct), %.1f MB", len(msgs), len(copies), float64(bytes)/1e6)

	deadline := time.Now().Add(2 * time.Minute)
	// A fifth of the mail comes with the last wave, so that the last
	// killed run leaves work for the final one.
	wave := len(uids) * 4 / 5 / (crashWaves - 1)
	for kill := 1; kill <= crashKills; kill++ {
		if len(uids) > 0 {
			n := min(wave, len(uids))
			if kill == crashWaves {
				n = len(uids)
			}
			moveMail(t, d, user, "Incoming", uids[:n], "INBOX")
			uids = uids[n:]
		}
		c := p.start(t, bin, "run", "--config", p.config, "--no-web", "--anchor-every", "1s")
		up := crashMinUp + time.Duration(rng.Int64N(int64(crashMaxUp-crashMinUp)))
		switch {
		case kill == crashKills:
			// Short, so that the final run has the last wave to finish.
			up = crashMinUp + time.Duration(rng.Int64N(int64(250*time.Millisecond)))
		case kill%4 == 3:
			// Now and then a longer life, so that anchors are written
			// (every second) and some are cut short.
			up = time.Second + time.Duration(rng.Int64N(int64(1500*time.Millisecond)))
		}
		time.Sleep(up)
		if c.exited() {
			t.Fatalf("kill %d: run exited on its own after less than %s: %v\n%s", kill, up, c.err, tail(c.stderr.String(), 30))
		}
		c.kill()
		t.Logf("kill %2d after %3d ms: %s", kill, up.Milliseconds(), crashProgress(t, p))
		if time.Now().After(deadline) {
			t.Fatalf("the kills took longer than 2 minutes")
		}
	}

	// The survivor: one run --once must finish everything left.
	out := p.runOnce(t, bin, time.Minute)
	t.Logf("final run --once: %s", tail(out, 1))
	p.checkAllDone(t, copies)
	// The runs spool in private directories, and the dir store writes in
	// its own: the next run removes what a killed one left, and the last
	// one removes its own.
	for _, f := range p.leftovers(t) {
		t.Errorf("temporary file left behind: %s", f)
	}
}

// crashProgress says how far the work got, from the ledger, right after a
// kill: a kill mid-fetch shows as messages not yet recorded, mid-store as
// judged ones without a bundle, mid-move as stored ones not moved.
func crashProgress(t *testing.T, p *pollerSetup) string {
	t.Helper()
	ctx := context.Background()
	l, err := archive.OpenLedger(ctx, p.ledger)
	if err != nil {
		t.Fatalf("reopen the ledger after a kill: %v", err)
	}
	defer l.Close()
	all, err := l.Messages(ctx, archive.MessageFilter{})
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	steps := map[archive.Step]int{}
	for _, m := range all {
		steps[m.Next()]++
	}
	return strconv.Itoa(len(all)) + " recorded; next step: judge " + strconv.Itoa(steps[archive.StepJudge]) +
		", store " + strconv.Itoa(steps[archive.StepStore]) + ", move " + strconv.Itoa(steps[archive.StepMove]) +
		", done " + strconv.Itoa(steps[archive.StepDone])
}
