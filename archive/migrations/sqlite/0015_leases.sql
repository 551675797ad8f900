-- 0015_leases: leases that let several replicas of claimtrail run share
-- one ledger, each mailbox folder polled by one replica at a time
-- (issue 21). A lease is held by holder until expires_at; the holder
-- renews it well before then, and another replica may take it once it
-- has expired (AcquireLease).
--
-- Times are Unix milliseconds of the callers' clocks, compared in SQL:
-- integers compare the same in every engine, and replicas need clocks
-- kept in step (NTP) anyway. acquired_at is when holder took the lease,
-- not its last renewal. Plain SQL, so that PostgreSQL takes it as is.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
