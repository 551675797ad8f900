-- 0017_rate_limits: token buckets that replicas of the web app share (the
-- login limits, web/auth.go), so that N replicas behind a load balancer
-- do not give an attacker N times the attempts (issue 21).
--
-- A bucket is stored as the one time it is next full ("theoretical
-- arrival time", GCRA): burst tokens, one regained every interval; a
-- bucket full by now is no row. Times are Unix milliseconds of the
-- callers' clocks. Plain SQL, so that PostgreSQL takes it as is.
CREATE TABLE rate_limits (
    bucket  TEXT PRIMARY KEY,
    full_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_full ON rate_limits (full_at);
