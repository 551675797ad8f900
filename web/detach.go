package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
)

// detachBody is the optional body of POST
// /api/v1/claims/{id}/evidence/{sha}/detach.
type detachBody struct {
	// Note says why, for the audit trail.
	Note string `json:"note"`
}

// detach takes the message the request names off its claim: an analyst's
// decision, which no automatic or bulk re-judgment undoes.
func (s *Server) detach(r *http.Request, note string) (int64, error) {
	id, err := claimID(r)
	if err != nil {
		return 0, err
	}
	sha, err := messageSHA(r)
	if err != nil {
		return id, err
	}
	return id, s.ledger.DetachEvidence(r.Context(), id, sha, actor(r), strings.TrimSpace(note))
}

// detachStatus is the status and text of a refused detach: 404 for a
// message that is not the claim's evidence (or no claim), 409 for a claim
// that cannot change; 0 for what is not the user's to fix.
func detachStatus(err error) (int, string) {
	if errors.Is(err, archive.ErrNotFound) {
		return http.StatusNotFound, userMessage(err)
	}
	return userErrorStatus(err), userMessage(err)
}

func (s *Server) claimDetachForm(w http.ResponseWriter, r *http.Request) {
	err := parseForm(r)
	var id int64
	if err == nil {
		id, err = s.detach(r, r.PostFormValue("note"))
	}
	if err != nil {
		if id == 0 {
			s.claimError(w, r, err)
			return
		}
		status, msg := detachStatus(err)
		s.claimFormFailed(w, r, id, err, status, msg, "", "")
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/claims/%d?done=detached#evidence", id), http.StatusSeeOther)
}

func (s *Server) apiClaimDetach(w http.ResponseWriter, r *http.Request) {
	var body detachBody
	if err := readOptionalJSON(r, &body); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error()+`; send nothing, or {"note": "why"}`)
		return
	}
	id, err := s.detach(r, body.Note)
	if err != nil {
		if status, msg := detachStatus(err); status != 0 {
			s.apiError(w, status, msg)
			return
		}
		s.claimError(w, r, err)
		return
	}
	s.writeClaim(w, r, id, http.StatusOK)
}
