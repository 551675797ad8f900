package archive

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const testPassword = "correct horse battery staple"

// testHash is made once: bcrypt is slow on purpose.
var testHash = sync.OnceValue(func() PasswordHash {
	h, err := HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

func addTestUser(t testing.TB, l *Ledger, name string, role Role) User {
	t.Helper()
	u, err := l.AddUser(context.Background(), name, role, testHash(), "admin-cli")
	if err != nil {
		t.Fatalf("AddUser(%s, %s): %v", name, role, err)
	}
	return u
}

// auditOf returns the (actor, action, subject) of every audit entry.
func auditOf(t testing.TB, l *Ledger) []string {
	t.Helper()
	var sb strings.Builder
	if err := l.ExportAudit(context.Background(), &sb, AuditJSONL, 0); err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(sb.String()) {
		var e AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Actor+" "+string(e.Action)+" "+e.Subject)
	}
	return out
}

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		role, need Role
		want       bool
	}{
		{RoleViewer, RoleViewer, true},
		{RoleViewer, RoleAnalyst, false},
		{RoleViewer, RoleAdmin, false},
		{RoleAnalyst, RoleViewer, true},
		{RoleAnalyst, RoleAnalyst, true},
		{RoleAnalyst, RoleAdmin, false},
		{RoleAdmin, RoleAdmin, true},
		{RoleAdmin, RoleViewer, true},
		{Role(""), RoleViewer, false},
		{Role("root"), RoleViewer, false},
	}
	for _, tt := range tests {
		if got := tt.role.Allows(tt.need); got != tt.want {
			t.Errorf("Role(%q).Allows(%s) = %v, want %v", tt.role, tt.need, got, tt.want)
		}
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"viewer": RoleViewer, " Analyst ": RoleAnalyst, "ADMIN": RoleAdmin} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "root", "admins"} {
		if got, err := ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) = %q, want an error", in, got)
		}
	}
}

func TestNormalizeUserName(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        string
	}{
		{name: "plain", in: "jana", want: "jana"},
		{name: "case and blanks folded", in: "  Jana.Novak ", want: "jana.novak"},
		{name: "mail address", in: "jana@adatum-csp.com", want: "jana@adatum-csp.com"},
		{name: "empty", in: "", wantErr: "use 1 to 64"},
		{name: "space inside", in: "jana novak", wantErr: "use 1 to 64"},
		{name: "leading dot", in: ".jana", wantErr: "use 1 to 64"},
		{name: "markup", in: "<b>jana</b>", wantErr: "use 1 to 64"},
		{name: "too long", in: strings.Repeat("a", 65), wantErr: "use 1 to 64"},
		{name: "reserved system actor", in: "System", wantErr: "reserved"},
	}
	for _, tt := range tests {
		got, err := NormalizeUserName(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: NormalizeUserName(%q) = %q, %v, want error containing %q", tt.name, tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: NormalizeUserName(%q) = %q, %v, want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestHashPasswordRules(t *testing.T) {
	tests := []struct {
		name, password, wantErr string
	}{
		{"too short", "short", "at least 12"},
		{"eleven runes", "ábcdéfghíjk", "at least 12"},
		{"blanks", strings.Repeat(" ", 14), "only blanks"},
		{"longer than bcrypt reads", strings.Repeat("x", 73), "72 bytes"},
		{"invalid UTF-8", "abcdefghijkl\xff", "UTF-8"},
	}
	for _, tt := range tests {
		if _, err := HashPassword(tt.password); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: HashPassword = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
	h := testHash()
	if !strings.HasPrefix(string(h), "$2a$") || strings.Contains(string(h), testPassword) {
		t.Errorf("HashPassword = %q, want a bcrypt hash without the password", h)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "Jana", RoleAnalyst)

	u, err := l.Authenticate(ctx, "JANA", testPassword)
	if err != nil || u.Name != "jana" || u.Role != RoleAnalyst {
		t.Fatalf("Authenticate(right password) = %+v, %v, want jana analyst", u, err)
	}
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", "jana", testPassword + "!"},
		{"unknown user", "petr", testPassword},
		{"invalid user name", "<script>", testPassword},
		{"empty password", "jana", ""},
	} {
		if _, err := l.Authenticate(ctx, tc.user, tc.password); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: Authenticate = %v, want ErrBadCredentials", tc.name, err)
		}
	}
}

func TestAddUserTwice(t *testing.T) {
	l := newTestLedger(t)
	addTestUser(t, l, "jana", RoleViewer)
	if _, err := l.AddUser(context.Background(), "Jana", RoleAdmin, testHash(), "admin-cli"); !errors.Is(err, ErrExists) {
		t.Errorf("AddUser(existing) = %v, want ErrExists", err)
	}
	if _, err := l.AddUser(context.Background(), "petr", "root", testHash(), "admin-cli"); err == nil {
		t.Errorf("AddUser(role root) succeeded, want an error")
	}
	if _, err := l.AddUser(context.Background(), "petr", RoleViewer, "plaintext", "admin-cli"); err == nil {
		t.Errorf("AddUser(not a bcrypt hash) succeeded, want an error")
	}
}

func TestLastAdminIsKept(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "boss", RoleAdmin)
	if err := l.RemoveUser(ctx, "boss", "admin-cli"); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("RemoveUser(last admin) = %v, want a last-admin error", err)
	}
	if err := l.SetRole(ctx, "boss", RoleViewer, "admin-cli"); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("SetRole(last admin, viewer) = %v, want a last-admin error", err)
	}
	addTestUser(t, l, "deputy", RoleAdmin)
	if err := l.SetRole(ctx, "boss", RoleViewer, "deputy"); err != nil {
		t.Errorf("SetRole with another admin: %v", err)
	}
	if err := l.RemoveUser(ctx, "boss", "deputy"); err != nil {
		t.Errorf("RemoveUser(former admin): %v", err)
	}
	if err := l.RemoveUser(ctx, "boss", "deputy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveUser(removed) = %v, want ErrNotFound", err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "jana", RoleAnalyst)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

	token, s, err := l.CreateSession(ctx, "jana", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, sessionPrefix) || len(token) < 40 {
		t.Errorf("session token %q: want %s and 256 random bits", token, sessionPrefix)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM sessions WHERE token_sha256 = ?`, token); n != 0 {
		t.Errorf("the session secret is stored in clear")
	}
	if !s.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("ExpiresAt = %v, want %v", s.ExpiresAt, now.Add(time.Hour))
	}
	got, err := l.Session(ctx, token, now.Add(59*time.Minute))
	if err != nil || got.User.Name != "jana" || got.User.Role != RoleAnalyst {
		t.Errorf("Session(within ttl) = %+v, %v, want jana analyst", got, err)
	}
	for name, tc := range map[string]struct {
		token string
		at    time.Time
	}{
		"expired":      {token, now.Add(time.Hour)},
		"unknown":      {sessionPrefix + "AAAA", now},
		"api token":    {apiTokenPrefix + token[len(sessionPrefix):], now},
		"empty cookie": {"", now},
	} {
		if _, err := l.Session(ctx, tc.token, tc.at); !errors.Is(err, ErrNotFound) {
			t.Errorf("Session(%s) = %v, want ErrNotFound", name, err)
		}
	}

	// A role change applies to the running session at once.
	addTestUser(t, l, "boss", RoleAdmin)
	if err := l.SetRole(ctx, "jana", RoleViewer, "boss"); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Session(ctx, token, now); err != nil || got.User.Role != RoleViewer {
		t.Errorf("Session after SetRole = %+v, %v, want role viewer", got.User, err)
	}
	// A new password ends every session of the user.
	if _, err := l.SetPassword(ctx, "jana", testHash(), "jana", PasswordOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Session(ctx, token, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session after SetPassword = %v, want ErrNotFound", err)
	}
	// Logout.
	token, _, err = l.CreateSession(ctx, "jana", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EndSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Session(ctx, token, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session after EndSession = %v, want ErrNotFound", err)
	}
	if _, _, err := l.CreateSession(ctx, "nobody", now, time.Hour); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateSession(unknown user) = %v, want ErrNotFound", err)
	}
}

func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "boss", RoleAdmin)
	addTestUser(t, l, "script", RoleViewer)

	token, info, err := l.CreateAPIToken(ctx, "script", "nightly export", "boss", APITokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := info.CreatedAt.Add(time.Minute)
	if !strings.HasPrefix(token, apiTokenPrefix) || info.User != "script" || info.Label != "nightly export" || info.ReadOnly ||
		info.ExpiresAt.Sub(info.CreatedAt) != DefaultAPITokenTTL {
		t.Errorf("CreateAPIToken = %q, %+v, want a token expiring after %v", token, info, DefaultAPITokenTTL)
	}
	u, tok, err := l.APITokenUser(ctx, token, now)
	if err != nil || u.Name != "script" || u.Role != RoleViewer || tok.ID != info.ID || tok.ReadOnly {
		t.Errorf("APITokenUser = %+v, %+v, %v, want script viewer", u, tok, err)
	}
	list, err := l.APITokens(ctx, "script")
	if err != nil || len(list) != 1 || list[0].LastUsedAt.IsZero() || !list[0].ExpiresAt.Equal(info.ExpiresAt) {
		t.Errorf("APITokens = %+v, %v, want one token with its last use and expiry", list, err)
	}
	// At its expiry the token stops working, and says so.
	if _, _, err := l.APITokenUser(ctx, token, info.ExpiresAt); !errors.Is(err, ErrTokenExpired) || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("APITokenUser(at expiry) = %v, want ErrTokenExpired", err)
	}
	// Read-only, with its own lifetime.
	roToken, ro, err := l.CreateAPIToken(ctx, "script", "dashboard", "boss", APITokenOptions{TTL: 24 * time.Hour, ReadOnly: true})
	if err != nil || !ro.ReadOnly || ro.ExpiresAt.Sub(ro.CreatedAt) != 24*time.Hour {
		t.Fatalf("CreateAPIToken(read-only, 24h) = %+v, %v", ro, err)
	}
	if _, tok, err := l.APITokenUser(ctx, roToken, now); err != nil || !tok.ReadOnly {
		t.Errorf("APITokenUser(read-only) = %+v, %v, want read-only", tok, err)
	}
	if _, _, err := l.CreateAPIToken(ctx, "script", "", "boss", APITokenOptions{TTL: -time.Hour}); err == nil {
		t.Errorf("CreateAPIToken with a negative lifetime: no error")
	}
	for name, bad := range map[string]string{
		"one character changed": token[:len(token)-1] + "x",
		"session prefix":        sessionPrefix + token[len(apiTokenPrefix):],
		"empty":                 "",
	} {
		if _, _, err := l.APITokenUser(ctx, bad, now); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("APITokenUser(%s) = %v, want ErrBadCredentials", name, err)
		}
	}
	if err := l.RevokeAPIToken(ctx, info.ID, "boss"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.APITokenUser(ctx, token, now); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("APITokenUser(revoked) = %v, want ErrBadCredentials", err)
	}
	if err := l.RevokeAPIToken(ctx, info.ID, "boss"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeAPIToken(revoked) = %v, want ErrNotFound", err)
	}

	// Removing a user removes their tokens with them.
	token, _, err = l.CreateAPIToken(ctx, "script", "", "boss", APITokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveUser(ctx, "script", "boss"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.APITokenUser(ctx, token, now); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("APITokenUser(token of removed user) = %v, want ErrBadCredentials", err)
	}
}

func TestUserChangesAreAudited(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "boss", RoleAdmin)
	addTestUser(t, l, "jana", RoleViewer)
	steps := []func() error{
		func() error { return l.SetRole(ctx, "jana", RoleAnalyst, "boss") },
		func() error { _, err := l.SetPassword(ctx, "jana", testHash(), "jana", PasswordOptions{}); return err },
		func() error { _, _, err := l.CreateAPIToken(ctx, "jana", "x", "boss", APITokenOptions{}); return err },
		func() error { return l.RevokeAPIToken(ctx, 1, "boss") },
		func() error { return l.RemoveUser(ctx, "jana", "boss") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{
		"admin-cli user_added user:boss",
		"admin-cli user_added user:jana",
		"boss role_changed user:jana",
		"jana password_changed user:jana",
		"boss api_token_created user:jana",
		"boss api_token_revoked user:jana",
		"boss user_removed user:jana",
	}
	if got := auditOf(t, l); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := l.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("VerifyAudit after user changes: %v", err)
	}
	if err := l.SetRole(ctx, "boss", RoleViewer, " "); err == nil {
		t.Errorf("SetRole without an actor succeeded")
	}
}

// Issue 20: a new password revokes the user's API tokens, each in the
// audit trail, unless they are kept on purpose.
func TestSetPasswordRevokesTokens(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "boss", RoleAdmin)
	addTestUser(t, l, "jana", RoleAnalyst)
	var tokens []string
	for _, label := range []string{"a", "b"} {
		token, _, err := l.CreateAPIToken(ctx, "jana", label, "boss", APITokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	if _, _, err := l.CreateAPIToken(ctx, "boss", "other user's", "boss", APITokenOptions{}); err != nil {
		t.Fatal(err)
	}
	now := l.now()
	pc, err := l.SetPassword(ctx, "jana", testHash(), "boss", PasswordOptions{KeepTokens: true})
	if err != nil || pc.TokensKept != 2 || len(pc.TokensRevoked) != 0 {
		t.Fatalf("SetPassword(KeepTokens) = %+v, %v, want 2 kept", pc, err)
	}
	if _, _, err := l.APITokenUser(ctx, tokens[0], now); err != nil {
		t.Errorf("a kept token: %v", err)
	}
	pc, err = l.SetPassword(ctx, "jana", testHash(), "boss", PasswordOptions{})
	if err != nil || pc.TokensKept != 0 || len(pc.TokensRevoked) != 2 {
		t.Fatalf("SetPassword = %+v, %v, want 2 revoked", pc, err)
	}
	for _, token := range tokens {
		if _, _, err := l.APITokenUser(ctx, token, now); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("a token after the password changed: %v, want ErrBadCredentials", err)
		}
	}
	if list, err := l.APITokens(ctx, ""); err != nil || len(list) != 1 || list[0].User != "boss" {
		t.Errorf("tokens left = %+v, %v, want only boss's", list, err)
	}
	var sb strings.Builder
	if err := l.ExportAudit(ctx, &sb, AuditJSONL, 0); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(sb.String(), `"action":"api_token_revoked"`); n != 2 || !strings.Contains(sb.String(), `"reason":"password changed"`) {
		t.Errorf("audit holds %d token revocations, want 2 with their reason:\n%s", n, sb.String())
	}
}

// Tokens made before migration 0010 have no expiry and keep working, so
// that an upgrade breaks no script; users list asks to replace them.
func TestAPITokenMadeBeforeExpiry(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	addTestUser(t, l, "script", RoleViewer)
	token, info, err := l.CreateAPIToken(ctx, "script", "old", "script", APITokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.Exec(`UPDATE api_tokens SET expires_at = NULL WHERE id = ?`, info.ID); err != nil {
		t.Fatal(err)
	}
	later := info.CreatedAt.Add(10 * DefaultAPITokenTTL)
	if _, tok, err := l.APITokenUser(ctx, token, later); err != nil || !tok.ExpiresAt.IsZero() || tok.Expired(later) {
		t.Errorf("APITokenUser(token without expiry, much later) = %+v, %v, want it working", tok, err)
	}
	if list, err := l.APITokens(ctx, "script"); err != nil || len(list) != 1 || !list[0].ExpiresAt.IsZero() {
		t.Errorf("APITokens = %+v, %v, want one token without expiry", list, err)
	}
}
