package ingest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// tailspin is a customer that is not in testdata/config.yaml until a test
// adds it, as a Partner Center import would.
var tailspin = rules.Tenant{ID: "3e9d7c1b-4a2f-4b8e-9c6d-5f1a2b3c4d5e", Name: "Tailspin Toys", Domains: []string{"tailspintoys.com"}, CSP: true}

// corpusRules is the rules: section of testdata/config.yaml.
func corpusRules(t testing.TB) rules.Config {
	t.Helper()
	raw, err := os.ReadFile("../testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Rules rules.Config `yaml:"rules"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Rules
}

// ledgerPolicy is the policy of the corpus rules and the ledger's tenants
// as they are now: what a re-judgment after an import judges with.
func ledgerPolicy(t testing.TB, l *archive.Ledger) *rules.Policy {
	t.Helper()
	tenants, err := l.Tenants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.New(corpusRules(t), tenants)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// txtTable answers DKIM key look-ups from a table and counts them.
type txtTable struct {
	mu      sync.Mutex
	records map[string][]string
	asked   int
}

func (d *txtTable) LookupTXT(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	if txt, ok := d.records[name]; ok {
		return txt, nil
	}
	return nil, fmt.Errorf("no TXT record for %s", name)
}

func (d *txtTable) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked
}

// rejudgeEnv is a pipeline that verifies DKIM with a table of keys, on a
// real ledger and directory store, and a signed mail from Tailspin.
type rejudgeEnv struct {
	*pipelineEnv
	dns *txtTable
	key ed25519.PrivateKey
}

func newRejudgeEnv(t testing.TB) *rejudgeEnv {
	t.Helper()
	e := newPipelineEnv(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dns := &txtTable{records: map[string][]string{
		"s1._domainkey.tailspintoys.com": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
	}}
	e.pipe = ingest.NewPipeline(corpusPolicy(t), e.store, e.ledger, &ingest.PipelineOptions{
		Resolver: dns, SpoolDir: t.TempDir(), Logger: quietLogger(),
	})
	return &rejudgeEnv{pipelineEnv: e, dns: dns, key: priv}
}

// mail returns a DKIM-signed mail from from (at tailspintoys.com or
// contoso.com) with the given subject and body, as received by the
// partner's trusted server.
func (e *rejudgeEnv) mail(t testing.TB, from, subject, body string) []byte {
	t.Helper()
	domain := from[strings.IndexByte(from, '@')+1:]
	msg := "From: " + from + "\r\n" +
		"To: claims@adatum-csp.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 16 Feb 2026 09:30:00 +0100\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@" + domain + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" + body + "\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "s1", Signer: e.key}); err != nil {
		t.Fatalf("dkim.Sign: %v", err)
	}
	return append([]byte("Authentication-Results: mx.adatum-csp.com; dmarc=pass header.from="+domain+"\r\n"), signed.Bytes()...)
}

// handle imports raw as the file name through the pipeline.
func (e *rejudgeEnv) handle(t testing.TB, name string, raw []byte) *ingest.Result {
	t.Helper()
	res, err := e.pipe.HandleFile(context.Background(), name, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("HandleFile(%s): %v", name, err)
	}
	return res
}

// bundle returns the bytes stored under key, checked against their key.
func (e *pipelineEnv) bundle(t *testing.T, key string) ([]byte, *evidence.Manifest) {
	t.Helper()
	rc, _, err := e.store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	b := buf.Bytes()
	if err := evidence.VerifyBundle(bytes.NewReader(b), int64(len(b)), key); err != nil {
		t.Errorf("VerifyBundle(%s): %v", key, err)
	}
	m, err := evidence.ReadManifest(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("ReadManifest(%s): %v", key, err)
	}
	return b, m
}

func (e *pipelineEnv) auditHead(t *testing.T) int64 {
	t.Helper()
	h, err := e.ledger.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

func (e *pipelineEnv) verifyAudit(t *testing.T) {
	t.Helper()
	if rep, err := e.ledger.VerifyAudit(context.Background(), e.store); err != nil || len(rep.Problems) != 0 {
		t.Errorf("VerifyAudit = %+v, %v; want no problems", rep, err)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// keys returns the bundle keys of sha for judgments 1..n.
func keys(sha string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, evidence.BundleKey(sha, i))
	}
	return out
}

// A message from a domain no tenant has is rejected; once the domain is a
// tenant's, re-judging accepts it with bundle 2 next to the untouched
// bundle 1, attaches it to its claim and audits it; again changes nothing.
func TestRejudgeAfterTenantImport(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	raw := e.mail(t, "ops@tailspintoys.com", "Exchange outage", "Exchange was down all morning (EX1187453). Please claim the credit.")
	res := e.handle(t, "tailspin.eml", raw)
	if res.Judgment.Verdict != rules.Rejected || res.Judgment.Reason != rules.ReasonUnknownDomain {
		t.Fatalf("HandleFile verdict = %s (%s), want rejected (unknown_domain)", res.Judgment.Verdict, res.Judgment.Reason)
	}
	sha := res.Message.SHA256
	first, man1 := e.bundle(t, evidence.BundleKey(sha, 1))
	if a := man1.Authentication; !a.DKIMVerified || len(a.DKIM) != 1 || !a.DKIM[0].Pass || len(a.DKIM[0].TXT) != 1 {
		t.Fatalf("bundle 1 DKIM = %+v, want one passing signature with its TXT record", a)
	}

	// The registry has not changed: nothing to write.
	r, err := e.pipe.Rejudge(ctx, sha, "cli:tester", ingest.RejudgeOptions{})
	if err != nil || r.Changed || r.After.Verdict != rules.Rejected || r.BundleKey != evidence.BundleKey(sha, 1) {
		t.Errorf("Rejudge before the import = %+v, %v; want rejected, unchanged, bundle 1", r, err)
	}

	if _, err := e.ledger.UpsertTenants(ctx, []rules.Tenant{tailspin}); err != nil {
		t.Fatal(err)
	}
	asked := e.dns.count()
	r, err = e.pipe.WithPolicy(ledgerPolicy(t, e.ledger)).Rejudge(ctx, sha, "cli:tester", ingest.RejudgeOptions{})
	if err != nil {
		t.Fatalf("Rejudge after the import: %v", err)
	}
	key2 := evidence.BundleKey(sha, 2)
	if !r.Changed || r.Before.Verdict != rules.Rejected || r.After.Verdict != rules.Accepted || r.After.TenantID != tailspin.ID ||
		!slices.Equal(r.After.IncidentIDs, []string{"EX1187453"}) || r.BundleKey != key2 {
		t.Errorf("Rejudge after the import = %+v; want rejected -> accepted for Tailspin, EX1187453, %s", r, key2)
	}
	if len(r.Attachments) != 1 || !r.Attachments[0].ClaimCreated {
		t.Errorf("Rejudge attachments = %+v, want the new claim", r.Attachments)
	}
	if n := e.dns.count(); n != asked {
		t.Errorf("Rejudge made %d DNS look-ups, want none: DKIM comes from the manifest", n-asked)
	}

	if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, 2)) {
		t.Errorf("stored bundles = %v, want %v", got, keys(sha, 2))
	}
	if again, _ := e.bundle(t, evidence.BundleKey(sha, 1)); !bytes.Equal(again, first) {
		t.Error("bundle 1 changed; evidence is write-once")
	}
	second, man2 := e.bundle(t, key2)
	if man2.Judgment.Verdict != rules.Accepted || man2.Judgment.TenantID != tailspin.ID {
		t.Errorf("bundle 2 judgment = %+v, want accepted for Tailspin", man2.Judgment)
	}
	if man2.Provenance != man1.Provenance || man2.Raw != man1.Raw || !reflect.DeepEqual(man2.Authentication, man1.Authentication) {
		t.Errorf("bundle 2 provenance, raw or authentication differ from bundle 1:\n%+v %+v %+v\n%+v %+v %+v",
			man2.Provenance, man2.Raw, man2.Authentication, man1.Provenance, man1.Raw, man1.Authentication)
	}
	m := r.Message
	if m.BundleKey != key2 || m.BundleSHA256 != sha256Hex(second) || m.Judgment.Verdict != rules.Accepted {
		t.Errorf("ledger after Rejudge: %s %s %s; want %s, the bundle's SHA-256, accepted", m.BundleKey, m.BundleSHA256, m.Judgment.Verdict, key2)
	}
	c, err := e.ledger.ClaimFor(ctx, tailspin.ID, "EX1187453")
	if err != nil || len(c.Evidence) != 1 || c.Evidence[0].SHA256 != sha || c.Evidence[0].BundleKey != key2 {
		t.Errorf("Tailspin's EX1187453 claim = %+v (%v), want the message with bundle 2 as evidence", c, err)
	}
	entries, err := e.ledger.AuditEntries(ctx, archive.AuditFilter{Actor: "cli:tester"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, string(en.Action))
	}
	for _, want := range []archive.Action{archive.ActionBundleStored, archive.ActionReprocessed, archive.ActionClaimCreated, archive.ActionEvidenceAttached} {
		if !slices.Contains(actions, string(want)) {
			t.Errorf("audit entries by cli:tester = %v, want %s among them", actions, want)
		}
	}
	e.verifyAudit(t)

	// Again: the same judgment, nothing written.
	head := e.auditHead(t)
	r, err = e.pipe.WithPolicy(ledgerPolicy(t, e.ledger)).Rejudge(ctx, sha, "cli:tester", ingest.RejudgeOptions{})
	if err != nil || r.Changed || r.BundleKey != key2 {
		t.Errorf("Rejudge again = %+v, %v; want unchanged at %s", r, err, key2)
	}
	if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, 2)) {
		t.Errorf("stored bundles after Rejudge again = %v, want %v", got, keys(sha, 2))
	}
	if h := e.auditHead(t); h != head {
		t.Errorf("Rejudge again appended audit entries %d..%d", head+1, h)
	}
}

// An analyst's judgment (attaching unmatched mail to an incident) takes the
// same path; a preview writes nothing.
func TestRejudgeWithOverride(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	raw := e.mail(t, "petr@contoso.com", "Mail down", "Mail was down for hours, we want a credit.")
	res := e.handle(t, "noid.eml", raw)
	if res.Judgment.Verdict != rules.Unmatched {
		t.Fatalf("HandleFile verdict = %s, want unmatched", res.Judgment.Verdict)
	}
	sha := res.Message.SHA256
	nj := res.Judgment
	nj.Verdict, nj.Reason, nj.IncidentIDs = rules.Accepted, "", []string{"EX1187453"}
	nj.Warnings = append(slices.Clone(nj.Warnings), "attached to incident EX1187453 by anna on the triage page")

	head := e.auditHead(t)
	p, err := e.pipe.PreviewRejudge(ctx, sha, ingest.RejudgeOptions{Judgment: &nj, ByAnalyst: true})
	if err != nil || !p.Changed || p.BundleKey != evidence.BundleKey(sha, 2) || p.After.Verdict != rules.Accepted {
		t.Errorf("PreviewRejudge = %+v, %v; want accepted, changed, bundle 2", p, err)
	}
	if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, 1)) || e.auditHead(t) != head {
		t.Errorf("PreviewRejudge wrote: bundles %v, audit head %d -> %d", got, head, e.auditHead(t))
	}

	r, err := e.pipe.Rejudge(ctx, sha, "anna", ingest.RejudgeOptions{Judgment: &nj, ByAnalyst: true})
	if err != nil || !r.Changed || r.BundleKey != evidence.BundleKey(sha, 2) {
		t.Fatalf("Rejudge with an override = %+v, %v; want changed, bundle 2", r, err)
	}
	_, man := e.bundle(t, r.BundleKey)
	if !reflect.DeepEqual(man.Judgment, nj) {
		t.Errorf("bundle 2 judgment = %+v, want the analyst's %+v", man.Judgment, nj)
	}
	c, err := e.ledger.ClaimFor(ctx, res.Judgment.TenantID, "EX1187453")
	if err != nil || len(c.Evidence) != 1 || c.Evidence[0].BundleKey != r.BundleKey {
		t.Errorf("claim after attaching = %+v (%v), want the message with bundle 2", c, err)
	}
	// The policy still says unmatched: re-judging by it would undo the
	// analyst's decision, with bundle 3, so it is refused unless the
	// analyst overrides their decision.
	p, err = e.pipe.PreviewRejudge(ctx, sha, ingest.RejudgeOptions{})
	if !errors.Is(err, archive.ErrDecided) || !p.Changed || p.After.Verdict != rules.Unmatched || p.BundleKey != evidence.BundleKey(sha, 3) || len(p.Decisions) != 1 {
		t.Errorf("PreviewRejudge by the policy = %+v, %v; want unmatched at bundle 3, refused by anna's decision", p, err)
	}
	head = e.auditHead(t)
	r, err = e.pipe.Rejudge(ctx, sha, "cli:bob", ingest.RejudgeOptions{})
	if !errors.Is(err, archive.ErrDecided) || !r.Changed || r.Before.Verdict != rules.Accepted || r.After.Verdict != rules.Unmatched ||
		!strings.Contains(err.Error(), "anna attached it") {
		t.Errorf("Rejudge by the policy = %+v, %v; want what would change, refused by anna's decision", r, err)
	}
	if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, 2)) || e.auditHead(t) != head {
		t.Errorf("a refused Rejudge wrote: bundles %v, audit head %d -> %d", got, head, e.auditHead(t))
	}
	r, err = e.pipe.Rejudge(ctx, sha, "anna", ingest.RejudgeOptions{Override: true})
	if err != nil || !r.Changed || r.After.Verdict != rules.Unmatched || r.BundleKey != evidence.BundleKey(sha, 3) {
		t.Errorf("Rejudge overriding the decision = %+v, %v; want unmatched at bundle 3", r, err)
	}
	if ds, err := e.ledger.Decisions(ctx, res.Message.ID); err != nil || len(ds) != 0 {
		t.Errorf("decisions after the override = %+v, %v; want none", ds, err)
	}
	e.verifyAudit(t)
}

// crashingLedger stores nothing of a re-judgment, as a process killed
// between the Put of bundle n+1 and its ledger record.
type crashingLedger struct{ *archive.Ledger }

func (crashingLedger) RecordRejudgment(context.Context, int64, archive.Rejudgment) ([]archive.Attachment, bool, error) {
	return nil, false, errors.New("killed before the ledger heard of it")
}

// A bundle n+1 stored by a re-judgment that never reached the ledger is
// found again: the same bytes are recorded, other bytes are recorded as
// they stand and the new judgment becomes n+2. No gaps, no number twice.
func TestRejudgeFinishesInterruptedRejudgment(t *testing.T) {
	tests := []struct {
		name string
		// crashed is the judgment of the re-judgment that died (nil: the
		// policy's, the same as the retry's).
		crashed   func(j rules.Judgment) *rules.Judgment
		wantKeys  int // bundles afterwards
		wantNotes int // bundles recorded as found
	}{
		{"same judgment", func(rules.Judgment) *rules.Judgment { return nil }, 2, 0},
		{"other judgment", func(j rules.Judgment) *rules.Judgment {
			j.Verdict, j.Reason, j.TenantID, j.IncidentIDs = rules.Accepted, "", tailspin.ID, []string{"PB1190455"}
			return &j
		}, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newRejudgeEnv(t)
			ctx := context.Background()
			res := e.handle(t, "tailspin.eml", e.mail(t, "ops@tailspintoys.com", "Outage", "EX1187453 took our mail down."))
			sha := res.Message.SHA256
			if _, err := e.ledger.UpsertTenants(ctx, []rules.Tenant{tailspin}); err != nil {
				t.Fatal(err)
			}
			policy := ledgerPolicy(t, e.ledger)

			crashed := ingest.NewPipeline(policy, e.store, crashingLedger{e.ledger}, &ingest.PipelineOptions{SpoolDir: t.TempDir(), Logger: quietLogger()})
			if _, err := crashed.Rejudge(ctx, sha, "cli:first", ingest.RejudgeOptions{Judgment: tc.crashed(res.Judgment)}); err == nil {
				t.Fatal("Rejudge with a crashing ledger succeeded")
			}
			orphan, _ := e.bundle(t, evidence.BundleKey(sha, 2))
			if m, _ := e.ledger.MessageBySHA256(ctx, sha); m.BundleKey != evidence.BundleKey(sha, 1) {
				t.Fatalf("after the crash the ledger is at %s, want bundle 1", m.BundleKey)
			}

			r, err := e.pipe.WithPolicy(policy).Rejudge(ctx, sha, "cli:second", ingest.RejudgeOptions{})
			if err != nil {
				t.Fatalf("Rejudge after the crash: %v", err)
			}
			want := evidence.BundleKey(sha, tc.wantKeys)
			if !r.Changed || r.After.Verdict != rules.Accepted || !slices.Equal(r.After.IncidentIDs, []string{"EX1187453"}) || r.BundleKey != want {
				t.Errorf("Rejudge after the crash = %+v; want accepted for EX1187453 at %s", r, want)
			}
			if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, tc.wantKeys)) {
				t.Errorf("stored bundles = %v, want %v", got, keys(sha, tc.wantKeys))
			}
			if again, _ := e.bundle(t, evidence.BundleKey(sha, 2)); !bytes.Equal(again, orphan) {
				t.Error("bundle 2 changed after the crash; evidence is write-once")
			}
			if m, _ := e.ledger.MessageBySHA256(ctx, sha); m.BundleKey != want || m.Judgment.Verdict != rules.Accepted {
				t.Errorf("ledger at %s (%s), want %s (accepted)", m.BundleKey, m.Judgment.Verdict, want)
			}
			stored, err := e.ledger.AuditEntries(ctx, archive.AuditFilter{Actions: []archive.Action{archive.ActionBundleStored}, Actor: "cli:second"})
			if err != nil {
				t.Fatal(err)
			}
			notes := 0
			for _, en := range stored {
				if strings.Contains(string(en.Details), "earlier re-judgment") {
					notes++
				}
			}
			if len(stored) != tc.wantKeys-1 || notes != tc.wantNotes {
				t.Errorf("bundle_stored entries by cli:second = %d (%d found after a crash), want %d (%d)", len(stored), notes, tc.wantKeys-1, tc.wantNotes)
			}
			if c, err := e.ledger.ClaimFor(ctx, tailspin.ID, "EX1187453"); err != nil || len(c.Evidence) != 1 || c.Evidence[0].BundleKey != want {
				t.Errorf("EX1187453 claim = %+v (%v), want the message at %s", c, err, want)
			}
			if tc.wantNotes > 0 {
				// The interrupted judgment opened its claim; the newer one
				// took the evidence off again, and the trail says so.
				if c, err := e.ledger.ClaimFor(ctx, tailspin.ID, "PB1190455"); err != nil || len(c.Evidence) != 0 {
					t.Errorf("PB1190455 claim = %+v (%v), want it open without evidence", c, err)
				}
			}
			e.verifyAudit(t)
		})
	}
}

// Workers re-judging the same message at once store one bundle 2 and
// record it once.
func TestRejudgeConcurrent(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	sha := e.handle(t, "tailspin.eml", e.mail(t, "ops@tailspintoys.com", "Outage", "EX1187453 took our mail down.")).Message.SHA256
	if _, err := e.ledger.UpsertTenants(ctx, []rules.Tenant{tailspin}); err != nil {
		t.Fatal(err)
	}
	pipe := e.pipe.WithPolicy(ledgerPolicy(t, e.ledger))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pipe.Rejudge(ctx, sha, fmt.Sprintf("worker%d", i), ingest.RejudgeOptions{}); err != nil {
				t.Errorf("Rejudge (worker %d): %v", i, err)
			}
		}()
	}
	wg.Wait()
	if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, 2)) {
		t.Errorf("stored bundles = %v, want %v", got, keys(sha, 2))
	}
	entries, err := e.ledger.AuditEntries(ctx, archive.AuditFilter{Actions: []archive.Action{archive.ActionReprocessed}, Subject: "message:" + sha})
	if err != nil || len(entries) != 1 {
		t.Errorf("reprocessed entries = %d (%v), want 1", len(entries), err)
	}
	e.verifyAudit(t)
}

// A bundle that does not match its record is refused, with an error that
// names the message and the bundle, and nothing is written.
func TestRejudgeRefusesTamperedBundle(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	sha := e.handle(t, "tailspin.eml", e.mail(t, "ops@tailspintoys.com", "Outage", "EX1187453 took our mail down.")).Message.SHA256
	key := evidence.BundleKey(sha, 1)
	path := filepath.Join(e.store.Path(), filepath.FromSlash(key))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("EX1187453 took"))
	if i < 0 {
		t.Fatal("the bundle does not hold the message text uncompressed")
	}
	copy(b[i:], "EX1187454") // another incident, same length
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ledger.UpsertTenants(ctx, []rules.Tenant{tailspin}); err != nil {
		t.Fatal(err)
	}
	head := e.auditHead(t)

	_, err = e.pipe.WithPolicy(ledgerPolicy(t, e.ledger)).Rejudge(ctx, sha, "cli:tester", ingest.RejudgeOptions{})
	if err == nil || !strings.Contains(err.Error(), sha) || !strings.Contains(err.Error(), key) || !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("Rejudge of a tampered bundle = %v, want ErrCorrupt naming %s and %s", err, sha, key)
	}
	if got := e.objects(t, "bundles/"); !slices.Equal(got, keys(sha, 1)) || e.auditHead(t) != head {
		t.Errorf("Rejudge of a tampered bundle wrote: bundles %v, audit head %d -> %d", got, head, e.auditHead(t))
	}
	if m, _ := e.ledger.MessageBySHA256(ctx, sha); m.Judgment.Verdict != rules.Rejected {
		t.Errorf("ledger verdict after a refused Rejudge = %s, want rejected", m.Judgment.Verdict)
	}
}

func TestRejudgeErrors(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	sha := e.handle(t, "tailspin.eml", e.mail(t, "ops@tailspintoys.com", "Outage", "EX1187453 took our mail down.")).Message.SHA256
	pending := sha256Hex([]byte("recorded, never judged"))
	if _, _, err := e.ledger.RecordMessage(ctx, archive.MessageRecord{SHA256: pending, Size: 22, Mailbox: "shared", Folder: "INBOX"}); err != nil {
		t.Fatal(err)
	}
	noPolicy := ingest.NewPipeline(nil, e.store, e.ledger, nil)
	tests := []struct {
		name    string
		pipe    *ingest.Pipeline
		sha     string
		actor   string
		wantErr error  // matched with errors.Is, when set
		wantMsg string // contained in the message, when set
	}{
		{"unknown message", e.pipe, sha256Hex([]byte("never seen")), "cli:tester", archive.ErrNotFound, ""},
		{"not bundled yet", e.pipe, pending, "cli:tester", ingest.ErrNotBundled, "poller"},
		{"no actor", e.pipe, sha, " ", nil, "actor"},
		{"no policy", noPolicy, sha, "cli:tester", nil, "WithPolicy"},
	}
	for _, tc := range tests {
		_, err := tc.pipe.Rejudge(ctx, tc.sha, tc.actor, ingest.RejudgeOptions{})
		if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("Rejudge(%s) = %v, want an error (%v, %q)", tc.name, err, tc.wantErr, tc.wantMsg)
		}
	}
}

// BenchmarkRejudge is the cost of re-judging one stored message: get and
// verify its bundle, take message.eml out, parse and judge it. "unchanged"
// writes nothing (the common case of a reprocess run); "changed" also
// stores and records bundle n+1, with two analyst judgments in turn.
func BenchmarkRejudge(b *testing.B) {
	for _, changed := range []bool{false, true} {
		name := "unchanged"
		if changed {
			name = "changed"
		}
		b.Run(name, func(b *testing.B) {
			e := newRejudgeEnv(b)
			ctx := context.Background()
			res := e.handle(b, "noid.eml", e.mail(b, "petr@contoso.com", "Mail down", strings.Repeat("Mail was down for hours, we want a credit.\r\n", 200)))
			sha := res.Message.SHA256
			var alt [2]*rules.Judgment
			for i, inc := range []string{"EX1187453", "SP1188214"} {
				j := res.Judgment
				j.Verdict, j.Reason, j.IncidentIDs = rules.Accepted, "", []string{inc}
				alt[i] = &j
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				var override *rules.Judgment
				if changed {
					override = alt[i%2]
				}
				r, err := e.pipe.Rejudge(ctx, sha, "bench", ingest.RejudgeOptions{Judgment: override})
				if err != nil || r.Changed != changed {
					b.Fatalf("Rejudge = changed %v, %v; want changed %v", r.Changed, err, changed)
				}
			}
		})
	}
}

// TestRejudgeTooComplex: a message whose parse ran out of its budget is
// archived and judged too_complex (issue 16); re-judging parses it
// afresh from the bundle, and with time to spare it is accepted.
func TestRejudgeTooComplex(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	hurried := ingest.NewPipeline(corpusPolicy(t), e.store, e.ledger, &ingest.PipelineOptions{
		Resolver: e.dns, SpoolDir: t.TempDir(), Logger: quietLogger(),
		Parse: &evidence.ParseOptions{Budget: time.Nanosecond},
	})
	raw := e.mail(t, "tom.baker@contoso.com", "Exchange outage", "Exchange was down all morning (EX1187453). Please claim the credit.")
	res, err := hurried.HandleFile(ctx, "hurried.eml", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("HandleFile: %v", err)
	}
	if res.Judgment.Verdict != rules.Rejected || res.Judgment.Reason != rules.ReasonTooComplex {
		t.Fatalf("HandleFile verdict = %s (%s), want rejected (too_complex)", res.Judgment.Verdict, res.Judgment.Reason)
	}
	sha := res.Message.SHA256
	e.checkStored(t, sha)
	_, man := e.bundle(t, evidence.BundleKey(sha, 1))
	if !man.Message.TooComplex {
		t.Errorf("bundle 1 manifest says too_complex = false")
	}

	r, err := e.pipe.Rejudge(ctx, sha, "cli:tester", ingest.RejudgeOptions{})
	if err != nil {
		t.Fatalf("Rejudge: %v", err)
	}
	if !r.Changed || r.Before.Reason != rules.ReasonTooComplex || r.After.Verdict != rules.Accepted {
		t.Errorf("Rejudge = %s (%s) -> %s (%s), changed %v; want too_complex -> accepted",
			r.Before.Verdict, r.Before.Reason, r.After.Verdict, r.After.Reason, r.Changed)
	}
}

// TestPipelineSetPolicy: a policy set while the pipeline runs judges the
// next message, which records the policy's registry version; a copy made
// by WithPolicy keeps its own policy; and a re-judgment whose only
// difference is the registry version changes nothing.
func TestPipelineSetPolicy(t *testing.T) {
	e := newRejudgeEnv(t)
	ctx := context.Background()
	before := e.pipe.Policy()
	first := e.handle(t, "first.eml", e.mail(t, "ops@tailspintoys.com", "Exchange outage", "Exchange was down (EX1187453)."))
	if j := first.Judgment; j.Verdict != rules.Rejected || j.Reason != rules.ReasonUnknownDomain {
		t.Fatalf("HandleFile before SetPolicy = %s (%s), want rejected (unknown_domain)", j.Verdict, j.Reason)
	}
	if _, err := e.ledger.UpsertTenants(ctx, []rules.Tenant{tailspin}); err != nil {
		t.Fatal(err)
	}
	version, err := e.ledger.RegistryVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	frozen := e.pipe.WithPolicy(before)
	e.pipe.SetPolicy(ledgerPolicy(t, e.ledger).WithRegistryVersion(version))

	second := e.handle(t, "second.eml", e.mail(t, "ops@tailspintoys.com", "Exchange outage again", "Down again (EX1187454)."))
	if j := second.Judgment; j.Verdict != rules.Accepted || j.TenantID != tailspin.ID || j.RegistryVersion != version {
		t.Errorf("HandleFile after SetPolicy = %s (%s) tenant %q registry %d; want accepted for Tailspin with registry %d",
			j.Verdict, j.Reason, j.TenantID, j.RegistryVersion, version)
	}
	if m, err := e.ledger.MessageBySHA256(ctx, second.Message.SHA256); err != nil || m.Judgment.RegistryVersion != version {
		t.Errorf("ledger judgment of the second message: %+v, %v; want registry version %d", m.Judgment, err, version)
	}
	if got := frozen.Policy(); got != before {
		t.Errorf("WithPolicy copy's policy changed with SetPolicy on the original")
	}

	// The old registry again, under another version: the same judgment.
	r, err := e.pipe.WithPolicy(before.WithRegistryVersion(version+5)).Rejudge(ctx, first.Message.SHA256, "cli:tester", ingest.RejudgeOptions{})
	if err != nil || r.Changed {
		t.Errorf("Rejudge with only the registry version changed = changed %v, %v; want unchanged", r.Changed, err)
	}
}
