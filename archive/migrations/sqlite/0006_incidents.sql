-- 0006_incidents: Microsoft's record of each claim's incident.
--
-- incident_facts keeps every distinct reading of an incident's facts from
-- one source (graph, catalog, notification), for good: the admin center
-- forgets incidents after a few weeks. tenant_id is '' for facts that hold
-- for every tenant (the offline catalog). listed is Graph's answer for the
-- tenant (1 found, 0 not listed), NULL when the source cannot say. facts is
-- the claims.Incident as JSON without its read time (read_at), so that the
-- same facts read twice hash the same (facts_sha256, which is also the
-- snapshot's SHA-256).
CREATE TABLE incident_facts (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    incident_id     TEXT NOT NULL,
    source          TEXT NOT NULL,
    read_at         TEXT,
    listed          INTEGER,
    facts           TEXT NOT NULL,
    facts_sha256    TEXT NOT NULL,
    snapshot_key    TEXT,
    snapshot_sha256 TEXT,
    report_key      TEXT,
    report_sha256   TEXT,
    report_type     TEXT,
    recorded_at     TEXT NOT NULL
);
-- The claim's look-up (newest record of each source) reads this index only.
CREATE INDEX incident_facts_incident ON incident_facts (incident_id, tenant_id, source, id);

-- eligible and ineligible_why are claims.Eligibility as of the claim's last
-- refresh, kept like the deadline so that lists can filter cheaply.
ALTER TABLE claims ADD COLUMN eligible INTEGER NOT NULL DEFAULT 1;
ALTER TABLE claims ADD COLUMN ineligible_why TEXT;

-- incident and incident_listed are what the claim carries of those
-- records (the best facts, without their raw object and posts, as JSON;
-- Graph's listing answer), kept on the claim's row by whatever records
-- facts or opens the claim, so that the work on each message reads no
-- incident_facts.
ALTER TABLE claims ADD COLUMN incident TEXT;
ALTER TABLE claims ADD COLUMN incident_listed INTEGER;
