package web

import (
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// TestTriageReasonWords: every reason the rules give has plain words and
// something to do, too_complex (issue 16) included.
func TestTriageReasonWords(t *testing.T) {
	for _, r := range []rules.Reason{
		rules.ReasonPersonalAddress, rules.ReasonUnknownDomain, rules.ReasonPartnerSender,
		rules.ReasonTenantMismatch, rules.ReasonSenderNotAuthenticated, rules.ReasonNoSender,
		rules.ReasonMalformed, rules.ReasonNoIncidentID, rules.ReasonTooComplex,
	} {
		if got := reasonText(r); got == "" || got == string(r) {
			t.Errorf("reasonText(%s) = %q, want plain words", r, got)
		}
		if got := reasonTodo(r); got == "" {
			t.Errorf("reasonTodo(%s) is empty, want what to do", r)
		}
	}
}
