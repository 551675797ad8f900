package archive

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// The real stores fit the bundle source without an adapter.
var _ BundleSource = Store(nil)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// packageFixture builds a complete claim with two evidence messages whose
// bundles are in the returned store, and Microsoft's record of its
// incident (catalog and Graph, with a post-incident report).
func packageFixture(t *testing.T) (*Ledger, *memStore, int64) {
	t.Helper()
	ctx := context.Background()
	l := newTestLedger(t)
	store := newMemStore()
	upsertTenantA(t, l, true)
	var id int64
	for i := range 2 {
		rec := testRecord(i)
		rec.Subject = fmt.Sprintf("Re: Exchange outage EX315207\r\n part %d", i+1)
		m := mustRecord(t, l, rec)
		atts, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207"), rules.Version)
		if err != nil {
			t.Fatal(err)
		}
		id = atts[0].ClaimID
		bundle := []byte(fmt.Sprintf("PK bundle of message %d", i))
		sum := sha256.Sum256(bundle)
		key := "bundles/" + rec.SHA256 + ".zip"
		if _, err := store.Put(ctx, key, bytes.NewReader(bundle), int64(len(bundle)), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := l.SetBundle(ctx, m.ID, key, hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
	}
	fillFields(t, l, id)
	addPackageFacts(t, l, store)
	return l, store, id
}

func writePackage(t *testing.T, l *Ledger, store BundleSource, id int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := l.WriteClaimPackage(context.Background(), &buf, id, store, "alice"); err != nil {
		t.Fatalf("WriteClaimPackage: %v", err)
	}
	return buf.Bytes()
}

func TestWriteClaimPackage(t *testing.T) {
	ctx := context.Background()
	l, store, id := packageFixture(t)
	first := writePackage(t, l, store, id)
	second := writePackage(t, l, store, id)
	if !bytes.Equal(first, second) {
		t.Error("two packages of an unchanged claim differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := l.Claim(ctx, id)
	wantNames := []string{"claim.json", "details.txt", "incident.json", "incident-report.pdf",
		"evidence/01-" + c.Evidence[0].SHA256 + ".zip", "evidence/02-" + c.Evidence[1].SHA256 + ".zip"}
	var names []string
	files := map[string][]byte{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("package entries = %v, want %v", names, wantNames)
	}
	for i, e := range c.Evidence {
		got := files[wantNames[4+i]]
		if want := store.objects[e.BundleKey]; !bytes.Equal(got, want) {
			t.Errorf("%s = %q, want the stored bundle %q", wantNames[4+i], got, want)
		}
	}
	var cj struct {
		Format string       `json:"format"`
		Claim  claims.Claim `json:"claim"`
	}
	if err := json.Unmarshal(files["claim.json"], &cj); err != nil {
		t.Fatal(err)
	}
	if cj.Format != packageFormat || cj.Claim.ID != id || cj.Claim.Status != claims.StatusReady || len(cj.Claim.Evidence) != 2 {
		t.Errorf("claim.json = %+v, want claim %d, ready, 2 evidence", cj, id)
	}
	golden := filepath.Join("testdata", "claim-details.golden.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, files["details.txt"], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./archive -run TestWriteClaimPackage -update)", err)
	}
	if got := files["details.txt"]; !bytes.Equal(got, want) {
		t.Errorf("details.txt =\n%s\nwant (%s)\n%s", got, golden, want)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND subject = ? AND actor = 'alice'`,
		string(ActionPackageExported), claimSubject(id)); n != 2 {
		t.Errorf("package_exported entries = %d, want 2", n)
	}
	// A change to the claim changes the package.
	if err := l.SetClaimField(ctx, id, claims.FieldTicket, "SR-2026-0043", "bob"); err != nil {
		t.Fatal(err)
	}
	if third := writePackage(t, l, store, id); bytes.Equal(first, third) {
		t.Error("the package did not change with the claim")
	}
}

func TestWriteClaimPackageFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, l *Ledger, store *memStore, c *claims.Claim)
		want  string
		is    error
	}{
		{"bundle altered in the store", func(t *testing.T, l *Ledger, store *memStore, c *claims.Claim) {
			store.objects[c.Evidence[1].BundleKey] = []byte("something else")
		}, "the ledger recorded", ErrCorrupt},
		{"bundle gone", func(t *testing.T, l *Ledger, store *memStore, c *claims.Claim) {
			delete(store.objects, c.Evidence[0].BundleKey)
		}, "bundle", ErrNotFound},
		{"evidence not stored yet", func(t *testing.T, l *Ledger, store *memStore, c *claims.Claim) {
			rec := testRecord(77)
			m := mustRecord(t, l, rec)
			if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207"), rules.Version); err != nil {
				t.Fatal(err)
			}
		}, "has no stored bundle yet", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, store, id := packageFixture(t)
			c, _ := l.Claim(ctx, id)
			tt.setup(t, l, store, c)
			before := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(ActionPackageExported))
			err := l.WriteClaimPackage(ctx, io.Discard, id, store, "alice")
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("WriteClaimPackage(%s) = %v, want an error containing %q (is %v)", tt.name, err, tt.want, tt.is)
			}
			if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(ActionPackageExported)); n != before {
				t.Errorf("a failed export was audited as exported")
			}
		})
	}
	l, store, id := packageFixture(t)
	if err := l.WriteClaimPackage(ctx, io.Discard, id, store, ""); err == nil {
		t.Error("WriteClaimPackage without an actor succeeded")
	}
	if err := l.WriteClaimPackage(ctx, io.Discard, 999, store, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("WriteClaimPackage(missing claim) = %v, want ErrNotFound", err)
	}
}

func TestClaimDetailsMarksMissing(t *testing.T) {
	l := newTestLedger(t)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, false)
	c, err := l.Claim(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := claims.Details(c)
	for _, want := range []string{"Customer tenant ID: " + tenantA, "Incident ID: EX315207", "Downtime: MISSING",
		"Support ticket number: MISSING", "Subscriptions bought through CSP: MISSING",
		"NOT READY, missing: customer_email, csp, downtime_start"} {
		if !strings.Contains(got, want) {
			t.Errorf("claims.Details(open claim) lacks %q:\n%s", want, got)
		}
	}
}
