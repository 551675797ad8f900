package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
	"github.com/claimtrail/claimtrail/rules"
)

// corpusPolicy is the policy testdata/config.yaml describes.
func corpusPolicy(t testing.TB) *rules.Policy {
	t.Helper()
	raw, err := os.ReadFile("../testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Rules   rules.Config   `yaml:"rules"`
		Tenants []rules.Tenant `yaml:"tenants"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	p, err := rules.New(cfg.Rules, cfg.Tenants)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// expectedVerdicts reads the corpus's hand-written verdicts by file name.
func expectedVerdicts(t testing.TB) map[string]rules.Verdict {
	t.Helper()
	f, err := os.Open("../testdata/mail/EXPECTED.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]rules.Verdict{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			cols := strings.Split(line, "\t")
			want[cols[0]] = rules.Verdict(cols[1])
		}
	}
	if len(want) < 40 {
		t.Fatalf("EXPECTED.tsv lists %d messages, want the whole corpus", len(want))
	}
	return want
}

type pipelineEnv struct {
	pipe   *ingest.Pipeline
	ledger *archive.Ledger
	store  *archive.Dir
}

func newPipelineEnv(t testing.TB) *pipelineEnv {
	t.Helper()
	dir := t.TempDir()
	ledger, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: filepath.Join(dir, "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ledger.Close() })
	store, err := archive.OpenDir(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	policy := corpusPolicy(t)
	if _, err := ledger.UpsertTenants(context.Background(), policy.Tenants()); err != nil {
		t.Fatal(err)
	}
	pipe := ingest.NewPipeline(policy, store, ledger, &ingest.PipelineOptions{SpoolDir: t.TempDir(), Logger: quietLogger()})
	return &pipelineEnv{pipe: pipe, ledger: ledger, store: store}
}

// objects counts the store's objects under prefix.
func (e *pipelineEnv) objects(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range e.store.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// checkStored checks that the message with sha is judged and bundled and
// that its stored bundle verifies against its key.
func (e *pipelineEnv) checkStored(t testing.TB, sha string) *archive.Message {
	t.Helper()
	ctx := context.Background()
	m, err := e.ledger.MessageBySHA256(ctx, sha)
	if err != nil {
		t.Fatalf("MessageBySHA256(%s): %v", sha[:12], err)
	}
	if m.Judgment == nil || m.BundleKey == "" {
		t.Fatalf("message %s: next step %s, want it judged and stored", sha[:12], m.Next())
	}
	rc, info, err := e.store.Get(ctx, m.BundleKey)
	if err != nil {
		t.Fatalf("Get(%s): %v", m.BundleKey, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if err := evidence.VerifyBundle(bytes.NewReader(buf.Bytes()), int64(buf.Len()), m.BundleKey); err != nil {
		t.Errorf("VerifyBundle(%s): %v", m.BundleKey, err)
	}
	if info.SHA256 != m.BundleSHA256 {
		t.Errorf("bundle %s: store says SHA-256 %s, ledger %s", m.BundleKey, info.SHA256, m.BundleSHA256)
	}
	return m
}

func TestPipelineImportsCorpus(t *testing.T) {
	e := newPipelineEnv(t)
	want := expectedVerdicts(t)
	ctx := context.Background()
	files, err := filepath.Glob("../testdata/mail/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	shas := map[string]string{}
	run := func() {
		t.Helper()
		skipped, err := ingest.WalkFiles(ctx, files, func(fm ingest.FileMessage) error {
			res, err := e.pipe.HandleFile(ctx, fm.Name, fm.R)
			if err != nil {
				return err
			}
			name := filepath.Base(fm.Name)
			shas[name] = res.Message.SHA256
			if got := res.Judgment.Verdict; got != want[name] {
				t.Errorf("HandleFile(%s) verdict = %s, want %s", name, got, want[name])
			}
			return nil
		})
		if err != nil || skipped != 0 {
			t.Fatalf("WalkFiles = %d skipped, %v", skipped, err)
		}
	}
	run()
	bundles := e.objects(t, "bundles/")
	if len(bundles) != len(files) {
		t.Errorf("store holds %d bundles after importing %d files", len(bundles), len(files))
	}
	for name, sha := range shas {
		m := e.checkStored(t, sha)
		if m.Next() != archive.StepDone || m.MovedTo != ingest.ImportedFolder || !strings.HasSuffix(m.Folder, name) {
			t.Errorf("%s: ledger says folder %q, moved to %q; want the file and %q", name, m.Folder, m.MovedTo, ingest.ImportedFolder)
		}
	}

	// Importing the same mail again changes nothing.
	head, err := e.ledger.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run()
	if n := len(e.objects(t, "bundles/")); n != len(bundles) {
		t.Errorf("second import: %d bundles, want %d", n, len(bundles))
	}
	if again, _ := e.ledger.AuditHead(ctx); again.Seq != head.Seq {
		t.Errorf("second import appended audit entries %d..%d", head.Seq+1, again.Seq)
	}
}

// A crash can leave a message judged but not bundled, or bundled but not in
// the ledger: handling it again finishes it with one row and one bundle.
func TestPipelineFinishesInterruptedWork(t *testing.T) {
	e := newPipelineEnv(t)
	ctx := context.Background()
	spool := spoolCorpusMail(t, "accepted-contoso-outlook-html.eml")
	sha := spool.SHA256()
	src := evidence.Provenance{Mailbox: "shared", Folder: "INBOX", UIDValidity: 7, UID: 42}

	// Interrupted after the judgment: record and judge only.
	msg, _, err := e.ledger.RecordMessage(ctx, archive.MessageRecord{SHA256: sha, Size: spool.Size(), Mailbox: "shared", Folder: "INBOX", UIDValidity: 7, UID: 42})
	if err != nil {
		t.Fatal(err)
	}
	facts, err := evidence.Parse(spool, spool.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	j := corpusPolicy(t).Judge(facts.RulesMessage())
	if _, _, err := e.ledger.RecordJudgment(ctx, msg.ID, j, rules.Version); err != nil {
		t.Fatal(err)
	}

	// Four workers are offered it at once, as after a restart with a
	// duplicate in the folder.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.pipe.Handle(ctx, ingest.Raw{R: spool, Size: spool.Size(), SHA256: sha, From: src}); err != nil {
				t.Errorf("Handle: %v", err)
			}
		}()
	}
	wg.Wait()
	if m := e.checkStored(t, sha); m.MovedTo != "" {
		t.Errorf("Handle moved the message to %q; only a source moves mail", m.MovedTo)
	}
	if n := len(e.objects(t, "bundles/")); n != 1 {
		t.Errorf("store holds %d bundles, want 1", n)
	}
}

// spoolCorpusMail spools the corpus message name for the test.
func spoolCorpusMail(t *testing.T, name string) *evidence.SpoolFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../testdata/mail", name))
	if err != nil {
		t.Fatal(err)
	}
	spool, err := evidence.Spool(context.Background(), bytes.NewReader(raw), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spool.Close() })
	return spool
}

// A bundle stored by an attempt that died before the ledger heard of it,
// judged under other rules, is the evidence: the ledger records its
// judgment, not the one the pipeline reaches now.
func TestPipelineKeepsBundleStoredBeforeACrash(t *testing.T) {
	e := newPipelineEnv(t)
	ctx := context.Background()
	spool := spoolCorpusMail(t, "accepted-contoso-outlook-html.eml")
	sha := spool.SHA256()
	facts, err := evidence.Parse(spool, spool.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	earlier := rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonUnknownDomain, Sender: facts.Sender} // the tenant not registered yet
	var bundle bytes.Buffer
	if _, err := evidence.WriteBundle(ctx, &bundle, &evidence.BundleInput{
		Raw: spool, RawSize: spool.Size(), RawSHA256: sha, Facts: facts, Judgment: earlier,
		Provenance: evidence.Provenance{Mailbox: "shared", Folder: "INBOX", UIDValidity: 7, UID: 41},
	}); err != nil {
		t.Fatal(err)
	}
	key := evidence.BundleKey(sha, 1)
	stored, err := e.store.Put(ctx, key, bytes.NewReader(bundle.Bytes()), int64(bundle.Len()), archive.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}

	res, err := e.pipe.Handle(ctx, ingest.Raw{R: spool, Size: spool.Size(), SHA256: sha,
		From: evidence.Provenance{Mailbox: "shared", Folder: "INBOX", UIDValidity: 7, UID: 42}})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	m := e.checkStored(t, sha)
	if res.Judgment.Verdict != rules.Rejected || m.Judgment.Verdict != rules.Rejected || m.Judgment.Reason != rules.ReasonUnknownDomain {
		t.Errorf("judgment: result %s, ledger %+v; want the stored bundle's, rejected (%s)", res.Judgment.Verdict, m.Judgment, rules.ReasonUnknownDomain)
	}
	if m.BundleKey != key || m.BundleSHA256 != stored.SHA256 {
		t.Errorf("ledger records bundle %s (%s), want the stored %s (%s)", m.BundleKey, m.BundleSHA256, key, stored.SHA256)
	}
	if n := len(e.objects(t, "bundles/")); n != 1 {
		t.Errorf("store holds %d bundles, want 1", n)
	}
}

// The pipeline behind an IMAP source on a real Dovecot: every message is
// judged, bundled, recorded, moved to the folder of its verdict and marked
// moved, with four workers.
func TestPipelineBehindDovecot(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	e := newPipelineEnv(t)
	want := expectedVerdicts(t)
	var msgs [][]byte
	for name := range want {
		raw, err := os.ReadFile(filepath.Join("../testdata/mail", name))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, raw)
	}
	d.Append(t, user, "INBOX", msgs...)

	opts := testOptions(t)
	opts.Workers = 4
	opts.ChunkSize = 16 // several chunks
	opts.BatchSize = 7
	src, err := ingest.NewIMAPSource(d.MailboxConfig(user), e.pipe, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.RunOnce(context.Background(), e.pipe); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if left := d.UIDs(t, user, "INBOX"); len(left) != 0 {
		t.Errorf("INBOX still holds %d messages", len(left))
	}
	counts := map[rules.Verdict]int{}
	for _, v := range want {
		counts[v]++
	}
	for v, folder := range map[rules.Verdict]string{rules.Accepted: "Accepted", rules.Rejected: "Rejected", rules.Unmatched: "Unmatched"} {
		if n := len(d.UIDs(t, user, folder)); n != counts[v] {
			t.Errorf("%s holds %d messages, want %d", folder, n, counts[v])
		}
	}
	unfinished, err := e.ledger.UnfinishedMessages(context.Background(), src.Name(), "INBOX", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(unfinished) != 0 {
		t.Errorf("%d messages unfinished in the ledger, e.g. %s at step %s", len(unfinished), unfinished[0].SHA256[:12], unfinished[0].Next())
	}
	if n := len(e.objects(t, "bundles/")); n != len(want) {
		t.Errorf("store holds %d bundles, want %d", n, len(want))
	}
}

// Mail handled before a crash but never moved is moved by the next run,
// from the ledger, without being handled again.
func TestPipelineMovesWhatACrashLeft(t *testing.T) {
	t.Parallel()
	d := ingesttest.StartDovecot(t)
	e := newPipelineEnv(t)
	ctx := context.Background()
	raw, err := os.ReadFile("../testdata/mail/rejected-personal-gmail.eml")
	if err != nil {
		t.Fatal(err)
	}
	uids := d.Append(t, user, "INBOX", raw)
	cfg := d.MailboxConfig(user)
	cp := e.pipe

	// The run before the crash: fetched and handled, checkpoint saved, no move.
	conn, err := ingest.DialIMAP(ctx, cfg.WithDefaults(), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	err = conn.FetchNew(ctx, "INBOX", ingest.Checkpoint{}, func(m *ingest.Message) error {
		if _, err := e.pipe.Process(ctx, m); err != nil {
			return err
		}
		return cp.SaveCheckpoint(ctx, cfg.Name, "INBOX", ingest.Checkpoint{UIDValidity: m.UIDValidity, UID: m.UID})
	})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}

	handled := 0
	counting := countingProcessor{Pipeline: e.pipe, n: &handled}
	src, err := ingest.NewIMAPSource(cfg, cp, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.RunOnce(ctx, counting); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if handled != 0 {
		t.Errorf("the restarted run handled %d messages again, want 0", handled)
	}
	if got := d.UIDs(t, user, "Rejected"); len(got) != 1 || len(d.UIDs(t, user, "INBOX")) != 0 {
		t.Errorf("after the restart: INBOX %v, Rejected %v; want the message (UID %d) in Rejected", d.UIDs(t, user, "INBOX"), got, uids[0])
	}
	sum := sha256.Sum256(raw)
	m, err := e.ledger.MessageBySHA256(ctx, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	if m.MovedTo != "Rejected" {
		t.Errorf("ledger: moved to %q, want Rejected", m.MovedTo)
	}
}

// countingProcessor counts Process calls.
type countingProcessor struct {
	*ingest.Pipeline
	n *int
}

func (c countingProcessor) Process(ctx context.Context, m *ingest.Message) (ingest.Destination, error) {
	*c.n++
	return c.Pipeline.Process(ctx, m)
}

// countingStore records how many Puts run at once.
type countingStore struct {
	ingest.BundleStore
	mu             sync.Mutex
	active, maxNow int
}

func (s *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts archive.PutOptions) (archive.ObjectInfo, error) {
	s.mu.Lock()
	s.active++
	s.maxNow = max(s.maxNow, s.active)
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // hold the message, so that others would overlap
	info, err := s.BundleStore.Put(ctx, key, r, size, opts)
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
	return info, err
}

// With a memory budget smaller than any message, each message takes all
// of it: however many workers call Handle, one message is worked on at a
// time.
func TestPipelineMemoryBudget(t *testing.T) {
	e := newPipelineEnv(t)
	store := &countingStore{BundleStore: e.store}
	pipe := ingest.NewPipeline(corpusPolicy(t), store, e.ledger, &ingest.PipelineOptions{SpoolDir: t.TempDir(), Logger: quietLogger(), MemoryBudget: 1})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		msg := ingesttest.NewMessage(i, fmt.Sprintf("budget %d", i), 2000)
		sum := sha256.Sum256(msg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := ingest.Raw{R: bytes.NewReader(msg), Size: int64(len(msg)), SHA256: hex.EncodeToString(sum[:]),
				From: evidence.Provenance{Mailbox: "shared", Folder: "INBOX", UIDValidity: 1, UID: uint32(i + 1)}}
			if _, err := pipe.Handle(ctx, raw); err != nil {
				t.Errorf("Handle: %v", err)
			}
		}()
	}
	wg.Wait()
	if store.maxNow != 1 {
		t.Errorf("%d messages were stored at once under a 1-byte budget, want 1", store.maxNow)
	}
	if n := len(e.objects(t, "bundles/")); n != 8 {
		t.Errorf("%d bundles stored, want 8", n)
	}
}
