package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// A form whose outcome is a page of results (re-judging, a tenant import)
// redirects to that page after it worked, so that reloading it shows the
// results again rather than posting the form a second time. The results
// wait in a flash: kept in the ledger for flashFor, for the user who asked
// only, under a random token the redirect names. In the ledger, not in
// memory, because behind a load balancer the redirected GET may reach
// another replica.

// flashFor is how long a form's results can be shown again.
const flashFor = 10 * time.Minute

// maxFlashes bounds the results kept; the oldest go first.
const maxFlashes = 1000

// redirectWith keeps data, as JSON, for the request's user and redirects
// to path with ?shown= its token.
func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, path string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		s.internal(w, r, fmt.Errorf("web: keep the results for %s: %w", path, err))
		return
	}
	token, err := s.ledger.PutFlash(r.Context(), actor(r), b, s.now(), flashFor, maxFlashes)
	if err != nil {
		// The work is done; only its page of results is lost.
		s.log.Error("web: the results were not kept for the next page", "path", path, "err", err)
		http.Redirect(w, r, path, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, path+"?shown="+token, http.StatusSeeOther)
}

// shown decodes into v the results the request's ?shown= names, and
// reports whether there were any for this user.
func (s *Server) shown(r *http.Request, v any) bool {
	t := r.URL.Query().Get("shown")
	if t == "" || len(t) > 64 {
		return false
	}
	b, err := s.ledger.Flash(r.Context(), actor(r), t, s.now())
	if err != nil {
		if !errors.Is(err, archive.ErrNotFound) {
			s.log.Error("web: the results a page names could not be read", "path", r.URL.Path, "err", err)
		}
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		s.log.Error("web: the results a page names do not fit it", "path", r.URL.Path, "err", err)
		return false
	}
	return true
}
