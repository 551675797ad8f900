package web

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// TestAuditVerifiedInBackground checks the verification's contract: the
// whole chain is verified in the background (at start and on each tick of
// its clock), a request verifies only the entries added since, and not
// even those when too many are new.
func TestAuditVerifiedInBackground(t *testing.T) {
	ticks := make(chan time.Time)
	fulls := make(chan struct{}, 10)
	oldTicker, oldHook := newVerifyTicker, testHookAfterFull
	newVerifyTicker = func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
	testHookAfterFull = func() { fulls <- struct{}{} }
	t.Cleanup(func() { newVerifyTicker, testHookAfterFull = oldTicker, oldHook })

	f := newFixture(t)
	ctx := context.Background()
	token := f.apiToken("vera")
	<-fulls // the first full verification, at start
	v := f.srv.verifier
	runs := v.fullRuns.Load()
	verify := func() verification {
		t.Helper()
		return decode[verification](t, f.apiCall("GET", "/api/v1/audit/verify", token, ""))
	}
	head, _ := f.ledger.AuditHead(ctx)
	if got := verify(); !got.OK || got.VerifiedSeq != head.Seq || got.FullCheckAt == nil || got.Checking {
		t.Fatalf("verify after the start = %+v, want OK up to %d", got, head.Seq)
	}
	appendEntries := func(n int) archive.AuditEntry {
		t.Helper()
		var e archive.AuditEntry
		for range n {
			var err error
			if e, err = f.ledger.AppendAudit(ctx, "anna", archive.ActionBundleDownloaded, "claim:1", nil); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}

	// New entries are verified by the request, from the checkpoint.
	e := appendEntries(2)
	if got := verify(); !got.OK || got.VerifiedSeq != e.Seq || got.ChainHeadSeq != e.Seq {
		t.Errorf("verify after 2 new entries = %+v, want OK up to %d", got, e.Seq)
	}

	// Too many new entries: the request answers what is known and says
	// it is checking; the background catches up.
	v.maxRequest = 2
	e = appendEntries(3)
	got := verify()
	if !got.OK || got.VerifiedSeq >= e.Seq && !got.Checking && got.VerifiedSeq != e.Seq {
		t.Errorf("verify after 3 new entries with a limit of 2 = %+v", got)
	}
	if got.VerifiedSeq < e.Seq && !got.Checking {
		t.Errorf("verify behind the head (%d < %d) does not say it is checking: %+v", got.VerifiedSeq, e.Seq, got)
	}
	// The background catches up, in its own time: a request that finds
	// it running answers what is known. Wait for it (bounded), then a
	// request sees it all.
	v.maxRequest = maxRequestVerify
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got = verify()
		if got.VerifiedSeq == e.Seq || time.Now().After(deadline) {
			break
		}
	}
	if !got.OK || got.VerifiedSeq != e.Seq || got.Checking {
		t.Errorf("verify after the catch-up = %+v, want OK up to %d", got, e.Seq)
	}
	if n := v.fullRuns.Load(); n != runs {
		t.Errorf("requests ran %d verifications of the whole chain, want none", n-runs)
	}

	db, err := sql.Open("sqlite", f.ledger.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tamper := func(stmt string) {
		t.Helper()
		for _, s := range []string{`DROP TRIGGER IF EXISTS audit_no_update`, stmt} {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}

	// A rewrite inside verified history: requests do not read history
	// again, the next full verification (a tick of its clock) finds it.
	tamper(`UPDATE audit SET actor = 'mallory' WHERE seq = 3`)
	if got := verify(); !got.OK {
		t.Errorf("verify right after a rewrite of entry 3 = %+v: a request read history again", got)
	}
	ticks <- time.Now()
	<-fulls
	got = verify()
	if got.OK || len(got.Problems) == 0 || !strings.HasPrefix(got.Problems[0], "seq 3: rewritten") {
		t.Errorf("verify after the next full verification = %+v, want entry 3 rewritten", got)
	}
	if n := v.fullRuns.Load(); n != runs+1 {
		t.Errorf("%d full verifications since the start, want 1 (the tick's)", n-runs)
	}

	// A rewrite of a new entry is found by the request's own check.
	e = appendEntries(1)
	tamper(fmt.Sprintf(`UPDATE audit SET details = '{"x":1}' WHERE seq = %d`, e.Seq))
	got = verify()
	if got.OK || !strings.Contains(strings.Join(got.Problems, "\n"), fmt.Sprintf("seq %d: rewritten", e.Seq)) {
		t.Errorf("verify after a rewrite of new entry %d = %+v", e.Seq, got)
	}
	if n := v.fullRuns.Load(); n != runs+1 {
		t.Errorf("a request verified the whole chain")
	}
}

// TestAuditPaging checks the paging contract on the audit lists: pages
// follow "next" without gaps or repeats while entries are added.
func TestAuditPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token := f.apiToken("vera")
	id := f.claimFor(contosoID, "EX315207")
	for _, path := range []string{"/api/v1/audit?limit=3", fmt.Sprintf("/api/v1/claims/%d/audit?limit=3", id), fmt.Sprintf("/api/v1/audit?claim=%d&limit=3", id)} {
		want, err := f.ledger.AuditEntries(ctx, archive.AuditFilter{})
		if strings.Contains(path, "claim") {
			want, err = f.ledger.AuditEntries(ctx, archive.AuditFilter{Claim: id})
		}
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		next := path
		for page := 0; page < 1000; page++ {
			p := decode[struct {
				Entries    []archive.AuditEntry
				More       bool
				Next       string
				NextBefore int64 `json:"next_before"`
				Total      *int
			}](t, f.apiCall("GET", next, token, ""))
			for _, e := range p.Entries {
				got = append(got, e.Seq)
			}
			if p.Total != nil {
				t.Errorf("%s answers a total", path)
			}
			if !p.More {
				break
			}
			if p.Next == "" || p.NextBefore != p.Entries[len(p.Entries)-1].Seq {
				t.Fatalf("%s: more without next: %+v", next, p)
			}
			next = path + "&cursor=" + p.Next
			if _, err := f.ledger.AppendAudit(ctx, "anna", archive.ActionBundleDownloaded, fmt.Sprintf("claim:%d", id), nil); err != nil {
				t.Fatal(err)
			}
		}
		var seqs []int64
		for _, e := range want {
			seqs = append(seqs, e.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(seqs) {
			t.Errorf("%s in pages = %v, want %v", path, got, seqs)
		}
	}
	if rec := f.apiCall("GET", "/api/v1/audit?cursor=x", token, ""); rec.Code != 400 {
		t.Errorf("a bad cursor = %d", rec.Code)
	}
	if rec := f.apiCall("GET", "/api/v1/audit?subject=ab", token, ""); rec.Code != 200 {
		t.Errorf("subject=ab (an exact subject) = %d", rec.Code)
	}
	if rec := f.apiCall("GET", "/api/v1/audit?subject=message:ab", token, ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "4 hex digits") {
		t.Errorf("subject=message:ab = %d %s", rec.Code, rec.Body.String())
	}
}

func TestSubjectFilter(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tt := range []struct{ in, exact, prefix string }{
		{"claim:3", "claim:3", ""},
		{"user:anna", "user:anna", ""},
		{"tenants", "tenants", ""},
		{"ab12", "", "message:ab12"},
		{"AB12", "", "message:ab12"},
		{"message:ab12…", "", "message:ab12"},
		{"message:" + h, "message:" + h, ""},
		{h, "message:" + h, ""},
		{"abc", "abc", ""},
		{"message:ab", "", "message:ab"},
	} {
		if e, p := subjectFilter(tt.in); e != tt.exact || p != tt.prefix {
			t.Errorf("subjectFilter(%q) = %q, %q; want %q, %q", tt.in, e, p, tt.exact, tt.prefix)
		}
	}
}
