package archive

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a web user may do. Each role includes the ones below it.
type Role string

// The roles, lowest first.
const (
	// RoleViewer reads everything and downloads bundles and packages.
	RoleViewer Role = "viewer"
	// RoleAnalyst also edits claims and works the triage queue.
	RoleAnalyst Role = "analyst"
	// RoleAdmin also manages the tenant registry and the users.
	RoleAdmin Role = "admin"
)

var roleRank = map[Role]int{RoleViewer: 1, RoleAnalyst: 2, RoleAdmin: 3}

// ParseRole returns the role named s (any case).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if roleRank[r] == 0 {
		return "", fmt.Errorf("role %q is not one of viewer, analyst, admin", s)
	}
	return r, nil
}

// Allows reports whether a user with role r may do what needs role need.
// An unknown role allows nothing.
func (r Role) Allows(need Role) bool {
	return roleRank[r] > 0 && roleRank[r] >= roleRank[need]
}

func userSubject(name string) string { return "user:" + name }

// ErrBadCredentials is returned by Authenticate for an unknown user or a
// wrong password alike, so that a caller cannot tell which.
var ErrBadCredentials = errors.New("wrong user name or password")

// User is a local user of the web app.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// userNamePattern admits login names and mail addresses; upper case is
// folded by NormalizeUserName first.
var userNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// NormalizeUserName returns name in the form it is stored and compared
// in: trimmed and lower case. It refuses names that could be mistaken in
// the audit trail: empty, longer than 64 bytes, other characters than
// letters, digits and ._@-, and the reserved actor "system".
func NormalizeUserName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !userNamePattern.MatchString(n) {
		return "", fmt.Errorf("user name %q: use 1 to 64 letters, digits and . _ @ -, starting with a letter or digit", name)
	}
	if n == ActorSystem {
		return "", fmt.Errorf("user name %q is reserved for claimtrail's own actions; choose another", name)
	}
	return n, nil
}

// Password rules. bcrypt reads at most 72 bytes; a longer password would
// silently lose its tail, so it is refused rather than truncated.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 72
	// passwordCost is bcrypt's work factor: about 60 ms per check on one
	// core here, which the web app's login rate limit multiplies.
	passwordCost = bcrypt.DefaultCost
)

// PasswordHash is a bcrypt hash made by HashPassword.
type PasswordHash string

// HashPassword checks password against the rules (MinPasswordLen to
// MaxPasswordLen bytes of UTF-8, not all blank) and returns its bcrypt hash.
func HashPassword(password string) (PasswordHash, error) {
	switch {
	case !utf8.ValidString(password):
		return "", errors.New("password: not valid UTF-8")
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return "", fmt.Errorf("password: use at least %d characters; a passphrase of a few words is easiest", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return "", fmt.Errorf("password: longer than the %d bytes bcrypt reads; use a shorter one", MaxPasswordLen)
	case strings.TrimSpace(password) == "":
		return "", errors.New("password: only blanks")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return PasswordHash(h), nil
}

// dummyHash is compared against when the user does not exist, so that
// Authenticate takes as long for an unknown user as for a wrong password.
// It is made on first use, not at start-up: every program linking archive
// would pay for it.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("claimtrail-no-such-user"), passwordCost)
	return h
})

func checkHash(h PasswordHash) error {
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Errorf("password hash: %w; make it with HashPassword", err)
	}
	return nil
}

// AddUser adds a user with the given role and password hash, recording it
// in the audit trail under actor. A user of that name already existing is
// an error wrapping ErrExists.
func (l *Ledger) AddUser(ctx context.Context, name string, role Role, hash PasswordHash, actor string) (User, error) {
	op := "add user " + name
	n, err := NormalizeUserName(name)
	if err != nil {
		return User{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	if roleRank[role] == 0 {
		return User{}, fmt.Errorf("archive: %s: role %q is not one of viewer, analyst, admin", op, role)
	}
	if err := errors.Join(checkHash(hash), checkActor(actor)); err != nil {
		return User{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	var u User
	err = l.write(ctx, op, func(tx *sql.Tx) error {
		now := l.now()
		res, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, n, string(role), string(hash), fmtTime(now), fmtTime(now))
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 0 {
			return fmt.Errorf("archive: %s: user %q %w; use passwd to change the password", op, n, ErrExists)
		}
		u = User{Name: n, Role: role, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
		_, err = l.appendAudit(ctx, tx, now, actor, ActionUserAdded, userSubject(n), map[string]any{"role": role})
		return err
	})
	return u, err
}

// PasswordOptions say what else SetPassword does.
type PasswordOptions struct {
	// KeepTokens keeps the user's API tokens; by default they are
	// revoked with the old password, since whoever had it could have
	// made them.
	KeepTokens bool
}

// PasswordChange is what SetPassword ended with the old password.
type PasswordChange struct {
	SessionsEnded int64
	// TokensRevoked are the IDs of the API tokens revoked; none with
	// PasswordOptions.KeepTokens.
	TokensRevoked []int64
	// TokensKept counts the tokens kept with PasswordOptions.KeepTokens.
	TokensKept int
}

// SetPassword replaces a user's password hash and ends the user's
// sessions, so a stolen cookie stops working with the old password. It
// revokes the user's API tokens too unless opts.KeepTokens, recording
// each revocation in the audit trail.
func (l *Ledger) SetPassword(ctx context.Context, name string, hash PasswordHash, actor string, opts PasswordOptions) (PasswordChange, error) {
	op := "set password of " + name
	n, err := NormalizeUserName(name)
	if err != nil {
		return PasswordChange{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := errors.Join(checkHash(hash), checkActor(actor)); err != nil {
		return PasswordChange{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	var pc PasswordChange
	err = l.write(ctx, op, func(tx *sql.Tx) error {
		pc = PasswordChange{}
		now := l.now()
		if err := updateUser(ctx, tx, n, `password_hash = ?, updated_at = ?`, string(hash), fmtTime(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ?`, n)
		if err != nil {
			return err
		}
		if pc.SessionsEnded, err = res.RowsAffected(); err != nil {
			return err
		}
		ids, err := tokenIDs(ctx, tx, n)
		if err != nil {
			return err
		}
		if opts.KeepTokens {
			pc.TokensKept = len(ids)
		} else {
			pc.TokensRevoked = ids
		}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionPasswordChanged, userSubject(n), map[string]any{
			"sessions_ended": pc.SessionsEnded, "tokens_revoked": len(pc.TokensRevoked), "tokens_kept": pc.TokensKept}); err != nil {
			return err
		}
		for _, id := range pc.TokensRevoked {
			if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id); err != nil {
				return err
			}
			if _, err := l.appendAudit(ctx, tx, now, actor, ActionTokenRevoked, userSubject(n),
				map[string]any{"token_id": id, "reason": "password changed"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return PasswordChange{}, err
	}
	return pc, nil
}

func tokenIDs(ctx context.Context, tx *sql.Tx, user string) ([]int64, error) {
	return queryIDs(ctx, tx, `SELECT id FROM api_tokens WHERE user_name = ? ORDER BY id`, user)
}

// SetRole changes a user's role. Demoting the last admin is refused, so
// that someone can always manage users and tenants.
func (l *Ledger) SetRole(ctx context.Context, name string, role Role, actor string) error {
	op := "set role of " + name
	n, err := NormalizeUserName(name)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	if roleRank[role] == 0 {
		return fmt.Errorf("archive: %s: role %q is not one of viewer, analyst, admin", op, role)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.write(ctx, op, func(tx *sql.Tx) error {
		u, err := userBy(ctx, tx, n)
		if err != nil {
			return err
		}
		if u.Role == role {
			return nil
		}
		if u.Role == RoleAdmin {
			if err := notLastAdmin(ctx, tx, n, "make "+n+" "+string(role)); err != nil {
				return err
			}
		}
		now := l.now()
		if err := updateUser(ctx, tx, n, `role = ?, updated_at = ?`, string(role), fmtTime(now)); err != nil {
			return err
		}
		_, err = l.appendAudit(ctx, tx, now, actor, ActionRoleChanged, userSubject(n), map[string]any{"from": u.Role, "to": role})
		return err
	})
}

// RemoveUser removes a user with their sessions and API tokens. The audit
// trail keeps their name as the actor of what they did. Removing the last
// admin is refused.
func (l *Ledger) RemoveUser(ctx context.Context, name, actor string) error {
	op := "remove user " + name
	n, err := NormalizeUserName(name)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.write(ctx, op, func(tx *sql.Tx) error {
		u, err := userBy(ctx, tx, n)
		if err != nil {
			return err
		}
		if u.Role == RoleAdmin {
			if err := notLastAdmin(ctx, tx, n, "remove "+n); err != nil {
				return err
			}
		}
		// The foreign keys cascade to sessions and api_tokens.
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, n); err != nil {
			return err
		}
		_, err = l.appendAudit(ctx, tx, l.now(), actor, ActionUserRemoved, userSubject(n), map[string]any{"role": u.Role})
		return err
	})
}

func notLastAdmin(ctx context.Context, tx *sql.Tx, name, what string) error {
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = ? AND name <> ?`,
		string(RoleAdmin), name).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return fmt.Errorf("cannot %s: %s is the last admin; add another admin first", what, name)
	}
	return nil
}

func updateUser(ctx context.Context, tx *sql.Tx, name, set string, args ...any) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET `+set+` WHERE name = ?`, append(args, name)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w; see 'claimtrail users list'", name, ErrNotFound)
	}
	return nil
}

// User returns the user with the given name (any case), or ErrNotFound.
func (l *Ledger) User(ctx context.Context, name string) (User, error) {
	n, err := NormalizeUserName(name)
	if err != nil {
		return User{}, fmt.Errorf("archive: user: %w", err)
	}
	u, err := userBy(ctx, l.r, n)
	if err != nil {
		return User{}, dbErr("user "+n, err)
	}
	return u, nil
}

// Users returns every user, by name.
func (l *Ledger) Users(ctx context.Context) ([]User, error) {
	rows, err := l.r.QueryContext(ctx, `SELECT name, role, created_at, updated_at FROM users ORDER BY name`)
	if err != nil {
		return nil, dbErr("list users", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, _, err := scanUser(rows, false)
		if err != nil {
			return nil, dbErr("list users", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list users", err)
	}
	return out, nil
}

// UserCount returns how many users there are; the web app refuses to
// start without any, since nobody could log in.
func (l *Ledger) UserCount(ctx context.Context) (int, error) {
	var n int
	if err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, dbErr("count users", err)
	}
	return n, nil
}

// Authenticate checks a user's password. An unknown user and a wrong
// password both give ErrBadCredentials, after the same bcrypt work.
func (l *Ledger) Authenticate(ctx context.Context, name, password string) (User, error) {
	n, err := NormalizeUserName(name)
	if err != nil {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return User{}, fmt.Errorf("archive: authenticate: %w", ErrBadCredentials)
	}
	var u User
	var hash string
	row := l.r.QueryRowContext(ctx, `SELECT name, role, created_at, updated_at, password_hash FROM users WHERE name = ?`, n)
	u, hash, err = scanUser(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return User{}, fmt.Errorf("archive: authenticate %s: %w", n, ErrBadCredentials)
	}
	if err != nil {
		return User{}, dbErr("authenticate "+n, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return User{}, fmt.Errorf("archive: authenticate %s: %w", n, ErrBadCredentials)
	}
	return u, nil
}

func userBy(ctx context.Context, q querier, name string) (User, error) {
	u, _, err := scanUser(q.QueryRowContext(ctx, `SELECT name, role, created_at, updated_at FROM users WHERE name = ?`, name), false)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w; see 'claimtrail users list'", name, ErrNotFound)
	}
	return u, err
}

// scanUser reads name, role, created_at, updated_at and, withHash,
// password_hash.
func scanUser(s scanner, withHash bool) (User, string, error) {
	var u User
	var role string
	var created, updated, hash sql.NullString
	dest := []any{&u.Name, &role, &created, &updated}
	if withHash {
		dest = append(dest, &hash)
	}
	if err := s.Scan(dest...); err != nil {
		return User{}, "", err
	}
	u.Role = Role(role)
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return User{}, "", err
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return User{}, "", err
	}
	return u, hash.String, nil
}

// newSecret returns a random token of 256 bits with a prefix that says
// what it is (so a leaked one is recognised), and its stored form.
func newSecret(prefix string) (token, stored string) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, secretSHA256(token)
}

func secretSHA256(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Prefixes of the secrets handed out.
const (
	sessionPrefix  = "cts_"
	apiTokenPrefix = "ctk_"
)

// Session is a logged-in browser's session.
type Session struct {
	User      User
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateSession starts a session for the named user that ends at now+ttl
// and returns the secret for its cookie; only the secret's SHA-256 is
// stored. Sessions that ended are removed on the way.
func (l *Ledger) CreateSession(ctx context.Context, name string, now time.Time, ttl time.Duration) (string, Session, error) {
	op := "create session for " + name
	if ttl <= 0 {
		return "", Session{}, fmt.Errorf("archive: %s: session lifetime %v must be positive", op, ttl)
	}
	token, stored := newSecret(sessionPrefix)
	var s Session
	err := l.write(ctx, op, func(tx *sql.Tx) error {
		u, err := userBy(ctx, tx, strings.ToLower(name))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, fmtTime(now)); err != nil {
			return err
		}
		s = Session{User: u, CreatedAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC()}
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (token_sha256, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			stored, u.Name, fmtTime(s.CreatedAt), fmtTime(s.ExpiresAt))
		return err
	})
	if err != nil {
		return "", Session{}, err
	}
	return token, s, nil
}

// Session returns the session whose cookie secret is token, with its user
// as they are now (a role change applies at once), or ErrNotFound when
// there is none or it ended by now.
func (l *Ledger) Session(ctx context.Context, token string, now time.Time) (Session, error) {
	if !strings.HasPrefix(token, sessionPrefix) || len(token) > 128 {
		return Session{}, fmt.Errorf("archive: session: %w", ErrNotFound)
	}
	var s Session
	var created, expires sql.NullString
	var role string
	var uc, uu sql.NullString
	err := l.r.QueryRowContext(ctx, `SELECT s.created_at, s.expires_at, u.name, u.role, u.created_at, u.updated_at
		FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.token_sha256 = ?`, secretSHA256(token)).
		Scan(&created, &expires, &s.User.Name, &role, &uc, &uu)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("archive: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, dbErr("session", err)
	}
	s.User.Role = Role(role)
	var errs [4]error
	s.CreatedAt, errs[0] = parseTime(created)
	s.ExpiresAt, errs[1] = parseTime(expires)
	s.User.CreatedAt, errs[2] = parseTime(uc)
	s.User.UpdatedAt, errs[3] = parseTime(uu)
	if err := errors.Join(errs[:]...); err != nil {
		return Session{}, dbErr("session", err)
	}
	if !now.Before(s.ExpiresAt) {
		return Session{}, fmt.Errorf("archive: session: ended at %s: %w", s.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	return s, nil
}

// EndSession removes the session whose cookie secret is token (logout).
// Ending a session that does not exist is not an error.
func (l *Ledger) EndSession(ctx context.Context, token string) error {
	return l.write(ctx, "end session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_sha256 = ?`, secretSHA256(token))
		return err
	})
}

// APIToken describes a bearer token for scripts; the secret itself is
// shown once, by CreateAPIToken.
type APIToken struct {
	ID        int64     `json:"id"`
	User      string    `json:"user"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the token stops working; zero for a token made
	// before tokens expired (migration 0010), which never does.
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// ReadOnly tokens may read (GET) but change nothing.
	ReadOnly bool `json:"read_only"`
}

// Expired reports whether t no longer works at now.
func (t APIToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// ErrTokenExpired is returned by APITokenUser for a token past its
// expiry; the holder needs a new one.
var ErrTokenExpired = errors.New("API token expired")

// DefaultAPITokenTTL is how long an API token works when
// APITokenOptions.TTL is zero.
const DefaultAPITokenTTL = 90 * 24 * time.Hour

// APITokenOptions shape a new API token; the zero value is a token with
// the user's role for DefaultAPITokenTTL.
type APITokenOptions struct {
	// TTL is how long the token works from its creation; zero means
	// DefaultAPITokenTTL.
	TTL time.Duration
	// ReadOnly limits the token to reading.
	ReadOnly bool
}

// tokenTouchEvery bounds how often APITokenUser records a token's last
// use: a script polling every second should not write every second.
const tokenTouchEvery = time.Hour

// CreateAPIToken makes a bearer token acting as the named user and
// returns its secret, which is not stored and cannot be shown again.
func (l *Ledger) CreateAPIToken(ctx context.Context, name, label, actor string, opts APITokenOptions) (string, APIToken, error) {
	op := "create API token for " + name
	n, err := NormalizeUserName(name)
	if err != nil {
		return "", APIToken{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := checkActor(actor); err != nil {
		return "", APIToken{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	label = strings.TrimSpace(label)
	if len(label) > 200 {
		return "", APIToken{}, fmt.Errorf("archive: %s: label longer than 200 bytes", op)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultAPITokenTTL
	}
	if ttl < 0 {
		return "", APIToken{}, fmt.Errorf("archive: %s: lifetime %v is negative; give a positive one such as 90 days", op, ttl)
	}
	token, stored := newSecret(apiTokenPrefix)
	var t APIToken
	err = l.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := userBy(ctx, tx, n); err != nil {
			return err
		}
		now := l.now().UTC()
		t = APIToken{User: n, Label: label, CreatedAt: now, ExpiresAt: now.Add(ttl), ReadOnly: opts.ReadOnly}
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_tokens (token_sha256, user_name, label, created_at, expires_at, read_only)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, stored, n, label, fmtTime(now), fmtTime(t.ExpiresAt), opts.ReadOnly).Scan(&t.ID); err != nil {
			return err
		}
		_, err = l.appendAudit(ctx, tx, now, actor, ActionTokenCreated, userSubject(n), map[string]any{
			"token_id": t.ID, "label": label, "expires_at": fmtTime(t.ExpiresAt), "read_only": t.ReadOnly})
		return err
	})
	if err != nil {
		return "", APIToken{}, err
	}
	return token, t, nil
}

// APITokenUser returns the user a bearer token acts as, as they are now,
// and the token. An unknown or revoked token is an error wrapping
// ErrBadCredentials; one expired by now wraps ErrTokenExpired.
func (l *Ledger) APITokenUser(ctx context.Context, token string, now time.Time) (User, APIToken, error) {
	if !strings.HasPrefix(token, apiTokenPrefix) || len(token) > 128 {
		return User{}, APIToken{}, fmt.Errorf("archive: API token: %w", ErrBadCredentials)
	}
	stored := secretSHA256(token)
	var got string
	var t APIToken
	var created, expires, lastUsed sql.NullString
	var u User
	var role string
	var uc, uu sql.NullString
	err := l.r.QueryRowContext(ctx, `SELECT t.id, t.token_sha256, t.label, t.created_at, t.expires_at, t.last_used_at, t.read_only,
		u.name, u.role, u.created_at, u.updated_at
		FROM api_tokens t JOIN users u ON u.name = t.user_name WHERE t.token_sha256 = ?`, stored).
		Scan(&t.ID, &got, &t.Label, &created, &expires, &lastUsed, &t.ReadOnly, &u.Name, &role, &uc, &uu)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, APIToken{}, fmt.Errorf("archive: API token: %w", ErrBadCredentials)
	}
	if err != nil {
		return User{}, APIToken{}, dbErr("API token", err)
	}
	// The index lookup already matched; compare again in constant time so
	// the check does not rest on the database's string comparison.
	if subtle.ConstantTimeCompare([]byte(got), []byte(stored)) != 1 {
		return User{}, APIToken{}, fmt.Errorf("archive: API token: %w", ErrBadCredentials)
	}
	u.Role = Role(role)
	t.User = u.Name
	var errs [5]error
	u.CreatedAt, errs[0] = parseTime(uc)
	u.UpdatedAt, errs[1] = parseTime(uu)
	t.CreatedAt, errs[2] = parseTime(created)
	t.ExpiresAt, errs[3] = parseTime(expires)
	t.LastUsedAt, errs[4] = parseTime(lastUsed)
	if err := errors.Join(errs[:]...); err != nil {
		return User{}, APIToken{}, dbErr("API token", err)
	}
	if t.Expired(now) {
		return User{}, t, fmt.Errorf("archive: API token %d of %s expired at %s: %w",
			t.ID, t.User, t.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"), ErrTokenExpired)
	}
	if now.Sub(t.LastUsedAt) >= tokenTouchEvery {
		err := l.write(ctx, "touch API token", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, fmtTime(now), t.ID)
			return err
		})
		if err != nil {
			return User{}, APIToken{}, err
		}
		t.LastUsedAt = now.UTC()
	}
	return u, t, nil
}

// APITokens lists the tokens of the named user, or of everyone when name
// is empty, oldest first, expired ones included.
func (l *Ledger) APITokens(ctx context.Context, name string) ([]APIToken, error) {
	q := `SELECT id, user_name, label, created_at, expires_at, last_used_at, read_only FROM api_tokens`
	var args []any
	if name != "" {
		q += ` WHERE user_name = ?`
		args = append(args, strings.ToLower(strings.TrimSpace(name)))
	}
	rows, err := l.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, dbErr("list API tokens", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var t APIToken
		var created, expires, last sql.NullString
		if err := rows.Scan(&t.ID, &t.User, &t.Label, &created, &expires, &last, &t.ReadOnly); err != nil {
			return nil, dbErr("list API tokens", err)
		}
		var errs [3]error
		t.CreatedAt, errs[0] = parseTime(created)
		t.ExpiresAt, errs[1] = parseTime(expires)
		t.LastUsedAt, errs[2] = parseTime(last)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, dbErr("list API tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list API tokens", err)
	}
	return out, nil
}

// RevokeAPIToken deletes the token with the given ID; the next request
// using it is refused. A missing ID is ErrNotFound.
func (l *Ledger) RevokeAPIToken(ctx context.Context, id int64, actor string) error {
	op := fmt.Sprintf("revoke API token %d", id)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.write(ctx, op, func(tx *sql.Tx) error {
		var user string
		err := tx.QueryRowContext(ctx, `SELECT user_name FROM api_tokens WHERE id = ?`, id).Scan(&user)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("archive: %s: %w", op, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id); err != nil {
			return err
		}
		_, err = l.appendAudit(ctx, tx, l.now(), actor, ActionTokenRevoked, userSubject(user), map[string]any{"token_id": id})
		return err
	})
}
