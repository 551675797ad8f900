package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// A form whose outcome is a page of results (re-judging, a tenant import)
// redirects to that page after it worked, so that reloading it shows the
// results again rather than posting the form a second time. The results
// wait in a flash: kept in memory for flashFor, for the user who asked
// only, under a random token the redirect names.

// flashFor is how long a form's results can be shown again.
const flashFor = 10 * time.Minute

// maxFlashes bounds the results kept; the oldest go first.
const maxFlashes = 1000

type flash struct {
	user string
	data any
	at   time.Time
}

type flashes struct {
	mu sync.Mutex
	m  map[string]flash
}

// put keeps data for user and returns its token.
func (f *flashes) put(user string, data any, now time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]flash{}
	}
	var oldest string
	for k, v := range f.m {
		if now.Sub(v.at) > flashFor {
			delete(f.m, k)
		} else if oldest == "" || v.at.Before(f.m[oldest].at) {
			oldest = k
		}
	}
	if len(f.m) >= maxFlashes {
		delete(f.m, oldest)
	}
	f.m[token] = flash{user: user, data: data, at: now}
	return token
}

// get returns what token holds for user, while it is fresh.
func (f *flashes) get(user, token string, now time.Time) (any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[token]
	if !ok || v.user != user || now.Sub(v.at) > flashFor {
		return nil, false
	}
	return v.data, true
}

// redirectWith keeps data for the request's user and redirects to path
// with ?shown= its token.
func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, path string, data any) {
	token := s.flashes.put(actor(r), data, s.now())
	http.Redirect(w, r, path+"?shown="+token, http.StatusSeeOther)
}

// shown returns the results the request's ?shown= names, if any.
func (s *Server) shown(r *http.Request) (any, bool) {
	t := r.URL.Query().Get("shown")
	if t == "" {
		return nil, false
	}
	return s.flashes.get(actor(r), t, s.now())
}
