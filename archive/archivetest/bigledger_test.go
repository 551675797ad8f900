package archivetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
)

// TestBigLedgerSmall builds a ledger of 2,000 messages and checks that the
// app accepts it: the audit chain verifies and every claim loads with its
// evidence.
func TestBigLedgerSmall(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "big.db")
	st, err := BuildBigLedger(ctx, path, BigLedgerSpec{Messages: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if st.Messages != 2000 || st.Claims != 40 || st.Tenants != 300 {
		t.Errorf("BuildBigLedger(2000) = %d messages, %d claims, %d tenants, want 2000, 40, 300", st.Messages, st.Claims, st.Tenants)
	}
	if st.AuditEntries < 4*st.Messages {
		t.Errorf("BuildBigLedger(2000) wrote %d audit entries, want at least %d", st.AuditEntries, 4*st.Messages)
	}
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := l.VerifyAudit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 || rep.Entries != st.AuditEntries {
		t.Errorf("VerifyAudit = %d entries, problems %v; want %d entries, no problems", rep.Entries, rep.Problems, st.AuditEntries)
	}
	var list []archive.ClaimSummary
	for s, err := range l.AllClaims(ctx, archive.ClaimQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, s)
	}
	if int64(len(list)) != st.Claims {
		t.Errorf("Claims() = %d claims, want %d", len(list), st.Claims)
	}
	var evidence int64
	for _, s := range list {
		c, err := l.Claim(ctx, s.ID)
		if err != nil {
			t.Fatalf("Claim(%d): %v", s.ID, err)
		}
		if c.Deadline.IsZero() {
			t.Errorf("Claim(%d) has no deadline", s.ID)
		}
		evidence += int64(len(c.Evidence))
	}
	if evidence != st.Evidence {
		t.Errorf("claims carry %d evidence, want %d", evidence, st.Evidence)
	}
}
