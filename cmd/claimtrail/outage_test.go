package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive/archivetest"
	"github.com/claimtrail/claimtrail/evidence/evidencetest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// Issue 4's outage test: Dovecot restarted during a fetch, and MinIO
// unavailable for a minute while mail keeps arriving. `claimtrail run`
// must neither exit nor spin, lose nothing, and drain the backlog once the
// servers are back.

const (
	outageFirst   = 300 // messages in INBOX when Dovecot restarts
	outageArrive  = 100 // messages arriving while MinIO is down
	minioDowntime = 60 * time.Second
	// retryLog is what the poller logs before each retry.
	retryLog = "; retrying"
)

func TestOutageDovecotRestartAndMinIODown(t *testing.T) {
	if testing.Short() {
		t.Skip("keeps MinIO down for a minute")
	}
	bin := buildClaimtrail(t)
	d := ingesttest.StartDovecot(t)
	m := archivetest.StartMinIO(t)
	user := ingesttest.DefaultUser
	// claimtrail reaches Dovecot through a proxy that holds back the
	// second body fetch after its first megabyte: then the connection
	// breaks and Dovecot restarts, as if it had died in the middle.
	proxy := startIMAPProxy(t, fmt.Sprintf("%s:%d", d.Host, d.Port))
	p := newPollerSetupPort(t, d, proxy.port(), user, m.Config(m.NewBucket()))

	rng := rand.New(rand.NewPCG(4, 4))
	run := strconv.FormatUint(rng.Uint64(), 36)
	var msgs [][]byte
	for n := range outageFirst + outageArrive {
		msgs = append(msgs, evidencetest.Mail(rng, run, n, evidencetest.PickClass(rng)))
	}
	uids := d.Append(t, user, "Incoming", msgs...)
	staged := folderMessages(t, d, user, "Incoming")
	copies := map[string]int{}
	for _, u := range uids {
		copies[staged[u]]++
	}
	moveMail(t, d, user, "Incoming", uids[:outageFirst], "INBOX")

	ctx := context.Background()
	l, _ := p.openState(t)
	done := func() int {
		n, err := l.MessageCounts(ctx)
		if err != nil {
			t.Fatalf("MessageCounts: %v", err)
		}
		total := 0
		for _, c := range n {
			total += c
		}
		return total
	}

	c := p.start(t, bin, "run", "--config", p.config, "--no-web", "--anchor-every", "10s")

	// 1. Dovecot goes away while the second batch of bodies streams in.
	select {
	case <-proxy.fetching:
	case <-time.After(time.Minute):
		t.Fatalf("no second body fetch within a minute (%d fetches seen, %d judged):\n%s", proxy.fetches.Load(), done(), tail(c.stderr.String(), 30))
	}
	before := done()
	proxy.cut()
	ended := restartDovecot(t, d)
	t.Logf("Dovecot restarted during a fetch, after %d of %d messages were judged; %s", before, outageFirst, ended)
	if before >= outageFirst {
		t.Errorf("all %d messages were judged before Dovecot stopped; the restart did not hit a fetch", outageFirst)
	}
	if err := waitFor(time.Minute, func() bool { return len(d.UIDs(t, user, "INBOX")) == 0 }); err != nil {
		t.Fatalf("INBOX not emptied within a minute of Dovecot's return:\n%s", tail(c.stderr.String(), 30))
	}
	if c.exited() {
		t.Fatalf("run exited: %v\n%s", c.err, tail(c.stderr.String(), 30))
	}
	if !strings.Contains(c.stderr.String(), "imap mailbox unavailable; retrying") {
		t.Errorf("run logged no reconnection after Dovecot's restart:\n%s", tail(c.stderr.String(), 20))
	}

	// 2. MinIO goes away for a minute; mail keeps arriving.
	m.Stop()
	logFrom := len(c.stderr.String())
	judged := done()
	moveMail(t, d, user, "Incoming", uids[outageFirst:], "INBOX")
	time.Sleep(minioDowntime)
	during := c.stderr.String()[logFrom:]
	retries := strings.Count(during, retryLog)
	inbox := len(d.UIDs(t, user, "INBOX"))
	t.Logf("MinIO down for %s: %d retries logged, %d messages judged meanwhile, %d left in INBOX", minioDowntime, retries, done()-judged, inbox)
	if c.exited() {
		t.Fatalf("run exited while MinIO was down: %v\n%s", c.err, tail(c.stderr.String(), 30))
	}
	// Backoff from 1 s, doubling: 5 to 8 retries in a minute. More would be
	// a hot loop; none would mean the failure went unnoticed.
	if retries < 2 || retries > 12 {
		t.Errorf("%d retries logged in %s without MinIO, want 2 to 12 (backoff):\n%s", retries, minioDowntime, tail(during, 20))
	}
	// Nothing leaves INBOX unless its evidence is stored.
	if inbox != outageArrive {
		t.Errorf("INBOX holds %d messages while MinIO is down, want all %d that arrived", inbox, outageArrive)
	}

	// 3. MinIO is back: the backlog drains.
	m.Start()
	back := time.Now()
	if err := waitFor(2*time.Minute, func() bool { return len(d.UIDs(t, user, "INBOX")) == 0 }); err != nil {
		t.Fatalf("INBOX not emptied within 2 minutes of MinIO's return:\n%s", tail(c.stderr.String(), 30))
	}
	t.Logf("backlog drained %s after MinIO returned", time.Since(back).Round(time.Second))

	// A clean stop anchors the audit trail; then everything must add up.
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop within 30 s of SIGTERM")
	}
	if c.err != nil {
		t.Errorf("run exited with %v after SIGTERM, want 0:\n%s", c.err, tail(c.stderr.String(), 30))
	}
	p.checkAllDone(t, copies)
}
