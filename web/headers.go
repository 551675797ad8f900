package web

import (
	"net/http"
)

// contentSecurityPolicy allows nothing but this site's own stylesheet,
// script and forms: no inline script or style (so markup that slips into a
// page cannot run), no framing, no plugins, no base-URI tricks.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// downloadPolicy is the policy of every download: were a browser to
// render one anyway, it would be sandboxed and could load nothing.
const downloadPolicy = "sandbox; default-src 'none'"

// secure sets the security headers on every response, and refuses
// cross-origin state-changing requests from browsers (Sec-Fetch-Site /
// Origin) before they reach a handler, in addition to the CSRF tokens.
func (s *Server) secure(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("web: cross-origin request refused", "method", r.Method, "path", r.URL.Path, "remote", s.clientIP(r))
		s.fail(w, r, http.StatusForbidden, "cross-site requests are refused; use the app's own pages")
	}))
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if s.secureCookies(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		inner.ServeHTTP(w, r)
	})
}
