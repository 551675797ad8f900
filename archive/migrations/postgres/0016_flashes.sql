-- 0016_flashes: the results of a web form (re-judging, a tenant import)
-- kept for the page its redirect shows (web/flash.go). In the ledger, not
-- in a web server's memory, so that behind a load balancer the redirected
-- GET may reach another replica (issue 21).
--
-- A flash is its user's only, and lapses at expires_at; PutFlash deletes
-- the lapsed ones and bounds how many are kept, the oldest going first.
-- Times are Unix milliseconds, data JSON. Plain SQL, so that PostgreSQL
-- takes it as is.
CREATE TABLE flashes (
    token      TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX flashes_created ON flashes (created_at);
CREATE INDEX flashes_expiry ON flashes (expires_at);
