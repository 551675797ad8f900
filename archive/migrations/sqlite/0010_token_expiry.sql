-- 0010_token_expiry: API tokens expire, may be read-only, and are revoked
-- with a password change (archive/users.go).
--
-- expires_at is set for every token made from now on (90 days by default,
-- web.token_ttl). Tokens made before this migration keep no expiry
-- (expires_at NULL): an upgrade must not break the scripts that use them
-- without warning. 'claimtrail users list' shows them as never expiring;
-- replace them with new tokens and revoke them, or change the user's
-- password, which revokes them.

ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1));
