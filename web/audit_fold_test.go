package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
)

// TestAuditRowFold: details longer than a line are folded under their
// beginning, so that an audit entry stays a line or two high.
func TestAuditRowFold(t *testing.T) {
	long := strings.Repeat("ü", auditBrief+1)
	tests := []struct {
		name    string
		details string
		folded  bool
		brief   string
	}{
		{"short", `{"field": "ticket", "value": "1234"}`, false, ""},
		{"long value", `{"reason": "` + long + `"}`, true, "reason: " + long[:len("ü")*(auditBrief-len("reason: "))] + "…"},
		{"many keys", `{"a": "1", "b": "2", "c": "3", "d": "4"}`, true, "a: 1; b: 2; c: 3; d: 4"},
		{"not JSON", long, true, long[:len("ü")*auditBrief] + "…"},
	}
	for _, tt := range tests {
		row := newAuditRow(archive.AuditEntry{Details: json.RawMessage(tt.details)})
		if row.Folded != tt.folded || row.Brief != tt.brief {
			t.Errorf("newAuditRow(%s) folded %v, brief %q; want %v, %q", tt.name, row.Folded, row.Brief, tt.folded, tt.brief)
		}
	}
}
