-- 0002_users: the web app's local users, their sessions and API tokens.
--
-- Secrets are never stored: passwords as bcrypt hashes, session cookies and
-- API tokens as the hex SHA-256 of the random value handed out (they carry
-- 256 bits of entropy, so a fast hash is enough; a stolen database does not
-- yield a usable cookie or token).

CREATE TABLE users (
    name          TEXT PRIMARY KEY,         -- lower case, see archive/users.go
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    password_hash TEXT NOT NULL,            -- bcrypt
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    label        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);
