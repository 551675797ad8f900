-- 0001_init: the first schema of the claimtrail ledger.
--
-- Times are TEXT in UTC, fixed width "2006-01-02T15:04:05.000000000Z", so
-- that they sort as strings. Hashes are lower-case hex.

-- tenants is the registry of customer tenants (config and Partner Center).
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,            -- Entra tenant GUID, lower case
    name       TEXT NOT NULL DEFAULT '',
    csp        INTEGER NOT NULL DEFAULT 0 CHECK (csp IN (0, 1)),
    source     TEXT NOT NULL DEFAULT '',    -- where it was declared
    updated_at TEXT NOT NULL
);

CREATE TABLE tenant_domains (
    domain    TEXT PRIMARY KEY,             -- lower case
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant_id);

-- messages has one row per distinct raw message (by SHA-256). The row is
-- written before the work on the message is done; each step fills its
-- columns, so unfinished work is whatever still has NULLs.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    sha256        TEXT NOT NULL UNIQUE,
    size          INTEGER NOT NULL CHECK (size >= 0),
    mailbox       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    internal_date TEXT,                     -- IMAP INTERNALDATE
    sent_date     TEXT,                     -- Date header
    recorded_at   TEXT NOT NULL,
    message_id    TEXT NOT NULL DEFAULT '',
    sender        TEXT NOT NULL DEFAULT '',
    subject       TEXT NOT NULL DEFAULT '',

    -- judged
    verdict       TEXT CHECK (verdict IN ('accepted', 'rejected', 'unmatched')),
    reason        TEXT,
    tenant_id     TEXT,
    incident_ids  TEXT,                     -- JSON array
    judgment      TEXT,                     -- JSON of rules.Judgment
    rules_version TEXT,
    judged_at     TEXT,

    -- stored
    bundle_key    TEXT,
    bundle_sha256 TEXT,
    stored_at     TEXT,

    -- moved
    moved_to      TEXT,
    moved_at      TEXT
);
CREATE INDEX messages_unfinished ON messages (mailbox, folder, id) WHERE moved_at IS NULL;
CREATE INDEX messages_location ON messages (mailbox, folder, uidvalidity, uid);

-- claims: one per (tenant, incident).
CREATE TABLE claims (
    id                   INTEGER PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    incident_id          TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN
        ('open', 'ready', 'submitted', 'approved', 'denied', 'expired')),
    azure                INTEGER NOT NULL DEFAULT 0 CHECK (azure IN (0, 1)),
    deadline             TEXT,
    deadline_provisional INTEGER NOT NULL DEFAULT 1 CHECK (deadline_provisional IN (0, 1)),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (tenant_id, incident_id)
);
CREATE INDEX claims_status_deadline ON claims (status, deadline);

-- claim_fields are the checklist items an analyst sets.
CREATE TABLE claim_fields (
    claim_id   INTEGER NOT NULL REFERENCES claims (id),
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    actor      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (claim_id, field)
);

CREATE TABLE claim_evidence (
    claim_id    INTEGER NOT NULL REFERENCES claims (id),
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    attached_at TEXT NOT NULL,
    PRIMARY KEY (claim_id, message_id)
);
CREATE INDEX claim_evidence_message ON claim_evidence (message_id);

-- checkpoints: per mailbox and folder, the highest UID fully recorded.
CREATE TABLE checkpoints (
    mailbox     TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (mailbox, folder)
);

-- audit is the hash-chained trail; see audit.go for the hash encoding.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    time      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit (subject);

-- The triggers stop accidents, not attackers: anyone with the file can drop
-- them. The chain and the anchors catch what they let through.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

-- anchors records each chain head written to the object store.
CREATE TABLE anchors (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    key        TEXT NOT NULL,
    created_at TEXT NOT NULL
);
