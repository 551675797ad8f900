package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// paymentsTenant owns c0ntoso.com, the domain of a corpus mail that is
// rejected until the domain is registered.
var paymentsTenant = rules.Tenant{ID: "8d2f4a6c-1b3e-4c5d-9e7f-0a1b2c3d4e5f", Name: "Contoso Payments", Domains: []string{"c0ntoso.com"}, CSP: true}

// reprocessEnv is a configuration whose ledger and store hold four corpus
// mails, imported: one accepted, two rejected, one unmatched.
type reprocessEnv struct {
	dir, cfg string
	sha      map[string]string // by corpus file name
}

var reprocessMails = []string{
	"accepted-contoso-outlook-html.eml",
	"rejected-personal-gmail.eml",
	"rejected-unknown-lookalike-c0ntoso-com.eml",
	"unmatched-contoso-no-incident-id.eml",
}

func newReprocessEnv(t *testing.T) *reprocessEnv {
	t.Helper()
	oldActor := cliActor
	cliActor = func() string { return "cli:tester" }
	t.Cleanup(func() { cliActor = oldActor })
	dir := t.TempDir()
	r := &reprocessEnv{dir: dir, cfg: writeRunConfig(t, dir, ""), sha: map[string]string{}}
	var files []string
	for _, name := range reprocessMails {
		path := filepath.Join("../../testdata/mail", name)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		r.sha[name] = hex.EncodeToString(sum[:])
		files = append(files, path)
	}
	if code, out, errOut := runCLI(t, append([]string{"import", "--config", r.cfg}, files...)...); code != exitOK {
		t.Fatalf("import: exit %d: %s%s", code, out, errOut)
	}
	return r
}

// ledger opens the environment's ledger for the test's own look.
func (r *reprocessEnv) ledger(t *testing.T) *archive.Ledger {
	t.Helper()
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: filepath.Join(r.dir, "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// bundles returns the stored bundles of the corpus mail name, by key,
// each verified against its key.
func (r *reprocessEnv) bundles(t *testing.T, name string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(r.dir, "objects", "bundles", r.sha[name], "*.zip"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		key := "bundles/" + r.sha[name] + "/" + filepath.Base(p)
		if err := evidence.VerifyBundle(bytes.NewReader(b), int64(len(b)), key); err != nil {
			t.Errorf("VerifyBundle(%s): %v", key, err)
		}
		out[key] = b
	}
	return out
}

func (r *reprocessEnv) auditHead(t *testing.T) int64 {
	t.Helper()
	h, err := r.ledger(t).AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

func TestReprocess(t *testing.T) {
	r := newReprocessEnv(t)
	const lookalike = "rejected-unknown-lookalike-c0ntoso-com.eml"
	sha := r.sha[lookalike]
	key1, key2 := evidence.BundleKey(sha, 1), evidence.BundleKey(sha, 2)

	// Nothing changed in the registry: nothing to write.
	head := r.auditHead(t)
	code, out, errOut := runCLI(t, "reprocess", "--config", r.cfg)
	if code != exitOK || out != "3 re-judged: 3 unchanged\n" {
		t.Errorf("reprocess before the import: exit %d, printed %q (stderr %s); want 0, %q", code, out, errOut, "3 re-judged: 3 unchanged\n")
	}
	if h := r.auditHead(t); h != head {
		t.Errorf("reprocess without changes appended audit entries %d..%d", head+1, h)
	}

	// A Partner Center import registers the look-alike domain.
	if _, err := r.ledger(t).UpsertTenants(context.Background(), []rules.Tenant{paymentsTenant}); err != nil {
		t.Fatal(err)
	}
	head = r.auditHead(t)
	first := r.bundles(t, lookalike)[key1]

	code, out, errOut = runCLI(t, "reprocess", "--config", r.cfg, "--dry-run")
	wantDry := sha + ": rejected -> accepted; would store " + key2 + "\n" +
		"3 re-judged (dry run, nothing written): 1 would be accepted, 2 unchanged\n"
	if code != exitOK || out != wantDry {
		t.Errorf("reprocess --dry-run: exit %d, printed %q (stderr %s); want 0, %q", code, out, errOut, wantDry)
	}
	if got := r.bundles(t, lookalike); len(got) != 1 {
		t.Errorf("reprocess --dry-run stored bundles: %d, want 1", len(got))
	}
	if h := r.auditHead(t); h != head {
		t.Errorf("reprocess --dry-run appended audit entries %d..%d", head+1, h)
	}

	code, out, errOut = runCLI(t, "reprocess", "--config", r.cfg)
	want := sha + ": rejected -> accepted; stored " + key2 + "\n" + "3 re-judged: 1 now accepted, 2 unchanged\n"
	if code != exitOK || out != want {
		t.Errorf("reprocess after the import: exit %d, printed %q (stderr %s); want 0, %q", code, out, errOut, want)
	}
	got := r.bundles(t, lookalike)
	if !slices.Equal(sortedKeys(got), []string{key1, key2}) || !bytes.Equal(got[key1], first) {
		t.Errorf("bundles after reprocess = %v (1.zip unchanged: %v); want 1.zip untouched and 2.zip", sortedKeys(got), bytes.Equal(got[key1], first))
	}
	ctx := context.Background()
	l := r.ledger(t)
	m, err := l.MessageBySHA256(ctx, sha)
	if err != nil || m.BundleKey != key2 || m.Judgment.Verdict != rules.Accepted || m.Judgment.TenantID != paymentsTenant.ID {
		t.Errorf("ledger after reprocess = %+v (%v); want accepted for %s at %s", m, err, paymentsTenant.Name, key2)
	}
	c, err := l.ClaimFor(ctx, paymentsTenant.ID, "EX1187453")
	if err != nil || len(c.Evidence) != 1 || c.Evidence[0].SHA256 != sha || c.Evidence[0].BundleKey != key2 {
		t.Errorf("claim after reprocess = %+v (%v); want the message with bundle 2", c, err)
	}
	entries, err := l.AuditEntries(ctx, archive.AuditFilter{Actor: "cli:tester", Subject: "message:" + sha})
	if err != nil || len(entries) != 2 {
		t.Errorf("audit entries by cli:tester about the message = %d (%v), want bundle_stored and reprocessed", len(entries), err)
	}
	if code, out, errOut := runCLI(t, "audit", "--config", r.cfg, "verify"); code != exitOK {
		t.Errorf("audit verify after reprocess: exit %d: %s%s", code, out, errOut)
	}

	// Again: the accepted mail is no longer walked; named, it is unchanged.
	head = r.auditHead(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"again", nil, "2 re-judged: 2 unchanged\n"},
		{"by SHA-256", []string{"--sha", strings.ToUpper(sha)}, "1 re-judged: 1 unchanged\n"},
		{"every verdict", []string{"--verdict", "accepted,rejected,unmatched"}, "4 re-judged: 4 unchanged\n"},
	} {
		code, out, errOut := runCLI(t, append([]string{"reprocess", "--config", r.cfg}, tc.args...)...)
		if code != exitOK || out != tc.want {
			t.Errorf("reprocess %s: exit %d, printed %q (stderr %s); want 0, %q", tc.name, code, out, errOut, tc.want)
		}
	}
	if h := r.auditHead(t); h != head {
		t.Errorf("reprocess again appended audit entries %d..%d", head+1, h)
	}
	if n := len(r.bundles(t, lookalike)); n != 2 {
		t.Errorf("bundles after reprocess again = %d, want 2", n)
	}
}

// A tampered bundle is refused, by name; the other messages are re-judged.
func TestReprocessRefusesTamperedBundle(t *testing.T) {
	r := newReprocessEnv(t)
	const gmail = "rejected-personal-gmail.eml"
	key := evidence.BundleKey(r.sha[gmail], 1)
	path := filepath.Join(r.dir, "objects", filepath.FromSlash(key))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("From:"))
	if i < 0 {
		t.Fatal("no From: in the bundle")
	}
	copy(b[i:], "FROM:")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	head := r.auditHead(t)
	code, out, errOut := runCLI(t, "reprocess", "--config", r.cfg)
	if code != exitFail || out != "2 re-judged: 2 unchanged; 1 failed\n" {
		t.Errorf("reprocess with a tampered bundle: exit %d, printed %q; want 1, %q", code, out, "2 re-judged: 2 unchanged; 1 failed\n")
	}
	if !strings.Contains(errOut, r.sha[gmail]) || !strings.Contains(errOut, key) || !strings.Contains(errOut, "does not match its record") {
		t.Errorf("reprocess stderr = %q, want the message %s and %s named as not matching", errOut, r.sha[gmail], key)
	}
	if h := r.auditHead(t); h != head {
		t.Errorf("reprocess with a tampered bundle appended audit entries %d..%d", head+1, h)
	}
}

func TestReprocessUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := writeRunConfig(t, dir, "")
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no config", []string{"reprocess"}, "--config is missing"},
		{"bad verdict", []string{"reprocess", "--config", cfg, "--verdict", "rejected,maybe"}, `"maybe" is not a verdict`},
		{"bad SHA-256", []string{"reprocess", "--config", cfg, "--sha", "abc"}, "not a message's SHA-256"},
		{"both selections", []string{"reprocess", "--config", cfg, "--sha", sha, "--verdict", "rejected"}, "not both"},
		{"argument", []string{"reprocess", "--config", cfg, sha}, "name messages with --sha"},
		{"missing config", []string{"reprocess", "--config", filepath.Join(dir, "none.yaml")}, "none.yaml"},
	}
	for _, tc := range tests {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, errOut, exitUsage, tc.want)
		}
	}
	// A SHA-256 the ledger does not know fails, named.
	code, out, errOut := runCLI(t, "reprocess", "--config", cfg, "--sha", sha)
	if code != exitFail || !strings.Contains(errOut, sha) || out != "0 re-judged: 0 unchanged; 1 failed\n" {
		t.Errorf("reprocess of an unknown message: exit %d, printed %q, stderr %q; want 1 naming it", code, out, errOut)
	}
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// An analyst's attach sticks: reprocess keeps the message, names who
// decided, and counts it as kept; it writes nothing.
func TestReprocessKeepsAnalystsDecisions(t *testing.T) {
	r := newReprocessEnv(t)
	const noid = "unmatched-contoso-no-incident-id.eml"
	sha := r.sha[noid]
	ctx := context.Background()
	l := r.ledger(t)
	store, err := archive.OpenDir(filepath.Join(r.dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := l.MessageBySHA256(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	nj := *m.Judgment
	nj.Verdict, nj.Reason, nj.IncidentIDs = rules.Accepted, "", []string{"EX1187453"}
	pipe := ingest.NewPipeline(nil, store, l, &ingest.PipelineOptions{SpoolDir: t.TempDir()})
	if _, err := pipe.Rejudge(ctx, sha, "anna", ingest.RejudgeOptions{Judgment: &nj, ByAnalyst: true}); err != nil {
		t.Fatalf("attach by anna: %v", err)
	}

	head := r.auditHead(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"dry run", []string{"--verdict", "accepted,rejected,unmatched", "--dry-run"}, "4 re-judged (dry run, nothing written): 3 unchanged, 1 kept: an analyst decided\n"},
		{"every verdict", []string{"--verdict", "accepted,rejected,unmatched"}, "4 re-judged: 3 unchanged, 1 kept: an analyst decided\n"},
		{"by SHA-256", []string{"--sha", sha}, "1 re-judged: 0 unchanged, 1 kept: an analyst decided\n"},
	} {
		code, out, errOut := runCLI(t, append([]string{"reprocess", "--config", r.cfg}, tc.args...)...)
		line := sha + ": kept: an analyst decided (anna attached it to claim "
		if code != exitOK || !strings.HasSuffix(out, tc.want) || !strings.Contains(out, line) || !strings.Contains(out, "the rules would make it unmatched") {
			t.Errorf("reprocess %s: exit %d, printed %q (stderr %s); want 0, %q after a line naming anna's attach", tc.name, code, out, errOut, tc.want)
		}
	}
	if h := r.auditHead(t); h != head {
		t.Errorf("reprocess of a decided message appended audit entries %d..%d", head+1, h)
	}
	m, err = l.MessageBySHA256(ctx, sha)
	if err != nil || m.Judgment.Verdict != rules.Accepted || m.BundleKey != evidence.BundleKey(sha, 2) {
		t.Errorf("message after reprocess = %+v (%v); want accepted at bundle 2, as anna attached it", m, err)
	}
	if n := len(r.bundles(t, noid)); n != 2 {
		t.Errorf("bundles after reprocess = %d, want 2", n)
	}
}
