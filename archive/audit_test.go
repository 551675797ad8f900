package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"io"
	"iter"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// memStore is a write-once in-memory store with the methods AnchorStore
// and BundleSource need; the real stores pass archivetest's suite, this one
// only has to behave like them here.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func newMemStore() *memStore { return &memStore{objects: map[string][]byte{}} }

func (s *memStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return ObjectInfo{}, err
	}
	if int64(len(b)) != size {
		return ObjectInfo{}, ErrCorrupt
	}
	sum := sha256.Sum256(b)
	info := ObjectInfo{Key: key, Size: size, SHA256: hex.EncodeToString(sum[:])}
	if opts.SHA256 != "" && opts.SHA256 != info.SHA256 {
		return ObjectInfo{}, ErrCorrupt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.objects[key]; ok {
		if !bytes.Equal(old, b) {
			return ObjectInfo{}, fmt.Errorf("put %s: %w", key, ErrExists)
		}
		info.Existed = true
		return info, nil
	}
	s.objects[key] = b
	return info, nil
}

func (s *memStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), ObjectInfo{Key: key, Size: int64(len(b))}, nil
}

func (s *memStore) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	s.mu.Lock()
	var keys []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	return func(yield func(ObjectInfo, error) bool) {
		for _, k := range keys {
			if !yield(ObjectInfo{Key: k}, nil) {
				return
			}
		}
	}
}

// TestAuditHashEncoding pins the documented encoding with an independent
// computation, so that a change to ComputeHash cannot go unnoticed: every
// stored chain would stop verifying.
func TestAuditHashEncoding(t *testing.T) {
	e := AuditEntry{Seq: 12, Time: "2026-02-15T09:30:00.000000000Z", Actor: "system", Action: ActionJudged,
		Subject: "message:abc", Details: json.RawMessage(`{"verdict":"accepted"}`), PrevHash: genesisHash}
	var buf bytes.Buffer
	buf.WriteString("claimtrail-audit-v1\n")
	for _, f := range []string{"12", e.Time, "system", "judged", "message:abc", `{"verdict":"accepted"}`, genesisHash} {
		binary.Write(&buf, binary.BigEndian, uint64(len(f)))
		buf.WriteString(f)
	}
	sum := sha256.Sum256(buf.Bytes())
	if got, want := e.ComputeHash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("ComputeHash() = %s, want %s", got, want)
	}
	// Moving a byte from one field to the next changes the hash.
	f := e
	f.Actor, f.Action = "systemj", "udged"
	if f.ComputeHash() == e.ComputeHash() {
		t.Error("ComputeHash is ambiguous across field boundaries")
	}
}

func TestCanonicalDetails(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want string
	}{
		{"nil", nil, `{}`},
		{"sorted keys", map[string]any{"b": 1, "a": "x", "c": map[string]any{"z": 1, "y": 2}}, `{"a":"x","b":1,"c":{"y":2,"z":1}}`},
		{"no HTML escaping", map[string]any{"subject": "<b>&</b>"}, `{"subject":"<b>&</b>"}`},
	}
	for _, tt := range tests {
		got, err := canonicalDetails(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("canonicalDetails(%s) = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

// auditFixture fills a ledger with a realistic trail of at least 20
// entries: messages recorded, judged, stored, moved, a claim updated.
func auditFixture(t *testing.T) *Ledger {
	t.Helper()
	l := newTestLedger(t)
	ctx := context.Background()
	for i := range 4 {
		m := mustRecord(t, l, testRecord(i))
		for _, s := range []Step{StepJudge, StepStore, StepMove} {
			doStep(t, l, m.ID, s)
		}
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n < 20 {
		t.Fatalf("fixture has %d entries, want at least 20", n)
	}
	if _, err := l.AppendAudit(ctx, "alice", ActionBundleDownloaded, messageSubject(testRecord(0).SHA256), nil); err != nil {
		t.Fatal(err)
	}
	return l
}

// tamper runs SQL against the audit table as someone with the file would:
// with the append-only triggers dropped.
func tamper(t *testing.T, l *Ledger, stmts ...string) {
	t.Helper()
	untrigger := []string{`DROP TRIGGER IF EXISTS audit_no_update`, `DROP TRIGGER IF EXISTS audit_no_delete`}
	if TestLedgerEngine == DriverPostgres {
		untrigger = []string{`ALTER TABLE audit DISABLE TRIGGER USER`}
	}
	for _, s := range append(untrigger, stmts...) {
		if _, err := l.w.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rehashFrom recomputes every hash from seq on, as a careful attacker
// would after an edit, so that the chain is self-consistent again.
func rehashFrom(t *testing.T, l *Ledger, seq int64) {
	t.Helper()
	rows, err := l.w.Query(auditSelect + ` ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var entries []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := scanAudit(rows, &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	rows.Close()
	prev := genesisHash
	for i, e := range entries {
		e.Seq = int64(i + 1) // renumber over deletions too
		if e.Seq >= seq {
			e.PrevHash = prev
			e.Hash = e.ComputeHash()
		}
		prev = e.Hash
		if _, err := l.w.Exec(`UPDATE audit SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Seq, e.PrevHash, e.Hash, entries[i].Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name string
		// anchorAt anchors the chain after that many entries (0: anchor
		// the full fixture).
		anchorAt int64
		tamper   func(t *testing.T, l *Ledger)
		want     []AuditProblem // Seq and Kind
	}{
		{
			name: "details of entry 5 edited",
			tamper: func(t *testing.T, l *Ledger) {
				tamper(t, l, `UPDATE audit SET details = '{"verdict":"rejected"}' WHERE seq = 5`)
			},
			want: []AuditProblem{{Seq: 5, Kind: ProblemRewritten}},
		},
		{
			name:   "entry 7 deleted",
			tamper: func(t *testing.T, l *Ledger) { tamper(t, l, `DELETE FROM audit WHERE seq = 7`) },
			want:   []AuditProblem{{Seq: 7, Kind: ProblemDeleted}},
		},
		{
			name:     "tail truncated below an anchor",
			anchorAt: 15,
			tamper:   func(t *testing.T, l *Ledger) { tamper(t, l, `DELETE FROM audit WHERE seq > 12`) },
			want:     []AuditProblem{{Seq: 15, Kind: ProblemTruncated}},
		},
		{
			name: "prev_hash of entry 9 changed",
			tamper: func(t *testing.T, l *Ledger) {
				tamper(t, l, `UPDATE audit SET prev_hash = '`+shaOf("x")+`' WHERE seq = 9`)
			},
			want: []AuditProblem{{Seq: 9, Kind: ProblemBrokenLink}, {Seq: 9, Kind: ProblemRewritten}},
		},
		{
			name: "entry 5 edited and the chain rehashed",
			tamper: func(t *testing.T, l *Ledger) {
				tamper(t, l, `UPDATE audit SET actor = 'mallory' WHERE seq = 5`)
				rehashFrom(t, l, 5)
			},
			want: []AuditProblem{{Seq: -1, Kind: ProblemAnchorMismatch}},
		},
		{
			name: "entry 7 deleted and the chain renumbered and rehashed",
			tamper: func(t *testing.T, l *Ledger) {
				tamper(t, l, `DELETE FROM audit WHERE seq = 7`)
				rehashFrom(t, l, 7)
			},
			// The anchored seq is now past the end of the chain.
			want: []AuditProblem{{Seq: -1, Kind: ProblemTruncated}},
		},
		{
			name: "two entries swapped",
			tamper: func(t *testing.T, l *Ledger) {
				tamper(t, l, `UPDATE audit SET seq = -1 WHERE seq = 3`, `UPDATE audit SET seq = 3 WHERE seq = 4`, `UPDATE audit SET seq = 4 WHERE seq = -1`)
			},
			want: []AuditProblem{{Seq: 3, Kind: ProblemBrokenLink}, {Seq: 3, Kind: ProblemRewritten}, {Seq: 4, Kind: ProblemBrokenLink},
				{Seq: 4, Kind: ProblemRewritten}, {Seq: 5, Kind: ProblemBrokenLink}},
		},
		{
			name:   "ledger's anchor record edited",
			tamper: func(t *testing.T, l *Ledger) { tamper(t, l, `UPDATE anchors SET hash = '`+shaOf("y")+`'`) },
			want:   []AuditProblem{{Seq: -1, Kind: ProblemAnchorMismatch}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l := auditFixture(t)
			store := newMemStore()
			if tt.anchorAt > 0 {
				// Anchor an earlier head: trim the view by anchoring
				// from a copy of the chain state at that seq.
				var e AuditEntry
				if err := scanAudit(l.r.QueryRow(auditSelect+` WHERE seq = ?`, tt.anchorAt), &e); err != nil {
					t.Fatal(err)
				}
				a := Anchor{Seq: e.Seq, Hash: e.Hash, Time: e.Time, Key: AnchorKey(e.Seq)}
				data := a.encode()
				if _, err := store.Put(ctx, a.Key, bytes.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
					t.Fatal(err)
				}
			} else if _, err := l.Anchor(ctx, store); err != nil {
				t.Fatal(err)
			}
			if rep, err := l.VerifyAudit(ctx, store); err != nil {
				t.Fatalf("VerifyAudit before tampering: %v (%+v)", err, rep)
			}
			head, _ := l.AuditHead(ctx)

			tt.tamper(t, l)
			rep, err := l.VerifyAudit(ctx, store)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("VerifyAudit after %s = %v, want ErrTampered", tt.name, err)
			}
			var got, want []string
			for _, p := range rep.Problems {
				got = append(got, fmt.Sprintf("%d %s", p.Seq, p.Kind))
			}
			for _, p := range tt.want {
				if p.Seq == -1 {
					p.Seq = head.Seq // the anchored head
				}
				want = append(want, fmt.Sprintf("%d %s", p.Seq, p.Kind))
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("VerifyAudit(%s) problems = [%s], want [%s]\n%v", tt.name, strings.Join(got, ", "), strings.Join(want, ", "), rep.Problems)
			}
			for _, p := range rep.Problems {
				if !strings.Contains(err.Error(), p.String()) && len(rep.Problems) <= 3 {
					t.Errorf("error %q does not name problem %q", err, p)
				}
			}
		})
	}
}

func TestVerifyAuditIntact(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	store := newMemStore()
	rep, err := l.VerifyAudit(ctx, store)
	if err != nil || rep.Entries != 0 {
		t.Fatalf("VerifyAudit(empty) = %+v, %v; want no entries, no error", rep, err)
	}
	if a, err := l.Anchor(ctx, store); err != nil || a.Seq != 0 {
		t.Fatalf("Anchor(empty trail) = %+v, %v; want the zero anchor", a, err)
	}
	l = auditFixture(t)
	a1, err := l.Anchor(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Anchor(ctx, store)
	if err != nil || again != a1 {
		t.Errorf("anchoring an unchanged head = %+v, %v; want %+v again", again, err, a1)
	}
	mustRecord(t, l, testRecord(50))
	a2, err := l.Anchor(ctx, store)
	if err != nil || a2.Seq != a1.Seq+1 {
		t.Fatalf("second Anchor = %+v, %v; want seq %d", a2, err, a1.Seq+1)
	}
	if a2.Key != fmt.Sprintf("anchors/%012d.json", a2.Seq) {
		t.Errorf("anchor key = %s", a2.Key)
	}
	mustRecord(t, l, testRecord(51)) // after the last anchor
	rep, err = l.VerifyAudit(ctx, store)
	if err != nil {
		t.Fatalf("VerifyAudit(intact) = %v", err)
	}
	if rep.Anchors != 2 || rep.LastAnchor != a2.Seq || rep.HeadSeq != a2.Seq+1 || rep.Entries != rep.HeadSeq {
		t.Errorf("VerifyAudit report = %+v, want 2 anchors, last %d, head %d", rep, a2.Seq, a2.Seq+1)
	}
	recorded, _ := l.Anchors(ctx)
	if len(recorded) != 2 {
		t.Errorf("Anchors() = %v, want 2", recorded)
	}
	// Without the store, the ledger's anchor records still check the chain.
	if _, err := l.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("VerifyAudit(nil store) = %v", err)
	}
}

func TestVerifyAuditAnchorProblems(t *testing.T) {
	ctx := context.Background()
	l := auditFixture(t)
	store := newMemStore()
	a, err := l.Anchor(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	// The store loses the anchor the ledger recorded, and holds junk.
	delete(store.objects, a.Key)
	store.objects["anchors/000000000002.json"] = []byte("not json")
	rep, err := l.VerifyAudit(ctx, store)
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("VerifyAudit = %v, want ErrTampered", err)
	}
	var kinds []string
	for _, p := range rep.Problems {
		kinds = append(kinds, fmt.Sprintf("%d %s", p.Seq, p.Kind))
	}
	if want := fmt.Sprintf("2 anchor_unreadable, %d anchor_missing", a.Seq); strings.Join(kinds, ", ") != want {
		t.Errorf("problems = %v, want %s", kinds, want)
	}
}

// TestAnchorRefusesFork: a restored old copy of the ledger, whose chain
// went another way after the copy, cannot anchor over the store's anchor.
func TestAnchorRefusesFork(t *testing.T) {
	ctx := context.Background()
	l := auditFixture(t)
	store := newMemStore()
	head, _ := l.AuditHead(ctx)
	forged := Anchor{Seq: head.Seq, Hash: shaOf("other history"), Time: head.Time, Key: AnchorKey(head.Seq)}
	data := forged.encode()
	store.objects[forged.Key] = data
	if _, err := l.Anchor(ctx, store); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "rewritten") {
		t.Errorf("Anchor over a different anchor = %v, want ErrExists explaining the rewrite", err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	l := auditFixture(t)
	for _, stmt := range []string{`UPDATE audit SET actor = 'x' WHERE seq = 1`, `DELETE FROM audit WHERE seq = 1`} {
		if _, err := l.w.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s = %v, want the append-only trigger to refuse", stmt, err)
		}
	}
}

func TestAppendAuditValidates(t *testing.T) {
	l := newTestLedger(t)
	ctx := context.Background()
	if _, err := l.AppendAudit(ctx, "", ActionBundleDownloaded, "message:x", nil); err == nil {
		t.Error("AppendAudit without an actor succeeded")
	}
	if _, err := l.AppendAudit(ctx, "alice", "deleted_everything", "message:x", nil); err == nil {
		t.Error("AppendAudit with an unknown action succeeded")
	}
	// An entry about a message is linked to the message's row, which
	// must be there.
	if _, err := l.AppendAudit(ctx, "alice", ActionBundleDownloaded, "message:x", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("AppendAudit about a message the ledger does not hold = %v, want not found", err)
	}
	e, err := l.AppendAudit(ctx, "alice", ActionPackageExported, "claim:1", map[string]any{"key": "packages/x.zip"})
	if err != nil || e.Seq != 1 || e.PrevHash != genesisHash || e.Hash != e.ComputeHash() {
		t.Errorf("AppendAudit = %+v, %v; want seq 1 from genesis, hash consistent", e, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil || !strings.HasSuffix(e.Time, "Z") || len(e.Time) != len("2026-02-16T10:00:00.000000000Z") {
		t.Errorf("entry time %q is not fixed-width RFC 3339 UTC", e.Time)
	}
}

func TestExportAudit(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	// Two claims; the export of one must not show the other's messages.
	a := openClaimWith(t, l, tenantA, "EX315207", 2, true)
	b := openClaimWith(t, l, tenantB, "SP123456", 1, true)
	if err := l.SetClaimField(ctx, a, claims.FieldTicket, "SR-1", "alice"); err != nil {
		t.Fatal(err)
	}
	ca, _ := l.Claim(ctx, a)
	cb, _ := l.Claim(ctx, b)

	var all bytes.Buffer
	if err := l.ExportAudit(ctx, &all, AuditJSONL, 0); err != nil {
		t.Fatal(err)
	}
	total := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	if len(lines) != total {
		t.Errorf("JSONL export has %d lines, want %d", len(lines), total)
	}
	prev := genesisHash
	for i, line := range lines {
		var e AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		// The export alone is enough to check the chain.
		if e.PrevHash != prev || e.ComputeHash() != e.Hash {
			t.Errorf("exported entry %d does not verify", e.Seq)
		}
		prev = e.Hash
	}

	var one bytes.Buffer
	if err := l.ExportAudit(ctx, &one, AuditCSV, a); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&one).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(records[0], ","); got != "seq,time,actor,action,subject,details,prev_hash,hash" {
		t.Errorf("CSV header = %s", got)
	}
	subjects := map[string]bool{}
	for _, r := range records[1:] {
		subjects[r[4]] = true
		e := AuditEntry{Time: r[1], Actor: r[2], Action: Action(r[3]), Subject: r[4], Details: json.RawMessage(r[5]), PrevHash: r[6], Hash: r[7]}
		fmt.Sscan(r[0], &e.Seq)
		if e.ComputeHash() != e.Hash {
			t.Errorf("CSV entry %d does not hash to its hash", e.Seq)
		}
	}
	want := map[string]bool{claimSubject(a): true}
	for _, ev := range ca.Evidence {
		want[messageSubject(ev.SHA256)] = true
	}
	if fmt.Sprint(subjects) != fmt.Sprint(want) {
		t.Errorf("claim export subjects = %v, want %v", subjects, want)
	}
	if subjects[messageSubject(cb.Evidence[0].SHA256)] {
		t.Error("claim export includes another claim's message")
	}
	if err := l.ExportAudit(ctx, io.Discard, "xml", 0); err == nil {
		t.Error("ExportAudit(xml) succeeded")
	}
	if err := l.ExportAudit(ctx, io.Discard, AuditCSV, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("ExportAudit(missing claim) = %v, want ErrNotFound", err)
	}
}

func TestExportAuditKeepsTamperedDetails(t *testing.T) {
	ctx := context.Background()
	l := auditFixture(t)
	tamper(t, l, `UPDATE audit SET details = 'not json' WHERE seq = 2`)
	var buf bytes.Buffer
	if err := l.ExportAudit(ctx, &buf, AuditJSONL, 0); err != nil {
		t.Fatalf("ExportAudit of a tampered trail = %v, want the export to go through", err)
	}
	if !strings.Contains(buf.String(), `"details":"not json"`) {
		t.Errorf("tampered details not exported as a string")
	}
	id := openClaimWith(t, l, tenantB, "SP123456", 1, true)
	if err := l.ExportAudit(ctx, io.Discard, AuditJSONL, id); err != nil {
		t.Errorf("claim export over a tampered trail = %v", err)
	}
}

// TestAuditRecordsJudgment reads the trail after one
// judgment: the entries describe exactly what changed.
func TestAuditRecordsJudgment(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	m := mustRecord(t, l, testRecord(1))
	if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207", "TM1112332"), rules.Version); err != nil {
		t.Fatal(err)
	}
	rows, err := l.r.Query(`SELECT action, subject FROM audit ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var a, s string
		rows.Scan(&a, &s)
		got = append(got, a+" "+strings.SplitN(s, ":", 2)[0])
	}
	rows.Close()
	want := []string{"message_received message", "judged message",
		"claim_created claim", "evidence_attached claim", "claim_created claim", "evidence_attached claim",
		"claim_updated claim", "claim_updated claim"} // each claim's provisional deadline
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit after one judgment =\n%s\nwant\n%s", strings.Join(got, "; "), strings.Join(want, "; "))
	}
}

// The real stores fit the anchor store without an adapter.
var _ AnchorStore = Store(nil)

// TestAnchorWithDir anchors into the directory store and catches a
// rewrite through it, as a deployment without MinIO would.
func TestAnchorWithDir(t *testing.T) {
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	l := auditFixture(t)
	a, err := l.Anchor(ctx, dir)
	if err != nil {
		t.Fatalf("Anchor(Dir) = %v", err)
	}
	if _, err := dir.Stat(ctx, a.Key); err != nil {
		t.Fatalf("anchor %s not in the store: %v", a.Key, err)
	}
	if _, err := l.VerifyAudit(ctx, dir); err != nil {
		t.Fatalf("VerifyAudit(Dir) = %v", err)
	}
	tamper(t, l, `UPDATE audit SET actor = 'mallory' WHERE seq = 3`)
	rehashFrom(t, l, 3)
	rep, err := l.VerifyAudit(ctx, dir)
	if !errors.Is(err, ErrTampered) || len(rep.Problems) != 1 || rep.Problems[0].Kind != ProblemAnchorMismatch {
		t.Errorf("VerifyAudit(Dir) after a rehashed rewrite = %v, want one anchor mismatch", err)
	}
}
