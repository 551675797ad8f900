-- 0005_claims_trust: what makes claims trustworthy.
--
-- messages.evidence_date is the date a message counts from for deadlines
-- (claims.EvidenceDate), written once, in Go, when the message is
-- recorded; the rows before it get the same rule here, once.
ALTER TABLE messages ADD COLUMN evidence_date TEXT;
UPDATE messages SET evidence_date = COALESCE(internal_date, sent_date, recorded_at);

-- claim_evidence.late marks evidence attached after the claim went to
-- Microsoft (claims.LateFor); attached_by names the analyst who attached it
-- by hand, NULL when the rules did.
ALTER TABLE claim_evidence ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE claim_evidence ADD COLUMN attached_by TEXT;

-- claims.reopened_at is when the claim was last reopened: a claim an
-- admin reopened after its deadline had passed does not expire again until
-- its deadline moves past the reopening (claims.Expires).
ALTER TABLE claims ADD COLUMN reopened_at TEXT;

-- evidence_decisions are analysts' decisions about a message: it was
-- attached to, or detached from, a tenant's claim for an incident by hand.
-- No automatic or bulk re-judgment reverses them; a single re-judgment
-- may, when the analyst says to override them.
CREATE TABLE evidence_decisions (
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    claim_id    INTEGER NOT NULL REFERENCES claims (id),
    decision    TEXT NOT NULL CHECK (decision IN ('attached', 'detached')),
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    decided_at  TEXT NOT NULL,
    PRIMARY KEY (message_id, claim_id)
);
CREATE INDEX evidence_decisions_claim ON evidence_decisions (claim_id);

-- registry is the tenant registry's version: a number that grows by one
-- with every change to the tenants or their domains, so that a running
-- poller notices the change and each judgment can say which registry it
-- used.
CREATE TABLE registry (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL,
    changed_at TEXT
);
INSERT INTO registry (id, version) VALUES (1, 1);

-- Attaches an analyst made on the triage page before decisions were
-- recorded are decisions all the same: that judgment carries the warning
-- "attached to incident <ID> by <user> on the triage page: ...".
INSERT OR IGNORE INTO evidence_decisions (message_id, claim_id, decision, actor, note, decided_at)
SELECT m.id, e.claim_id, 'attached',
    substr(w.value, instr(w.value, ' by ') + 4, instr(w.value, ' on the triage page') - instr(w.value, ' by ') - 4),
    'attached on the triage page before decisions were recorded', COALESCE(m.judged_at, e.attached_at)
FROM messages m
    JOIN claim_evidence e ON e.message_id = m.id
    JOIN claims c ON c.id = e.claim_id,
    json_each(m.judgment, '$.warnings') w
WHERE m.verdict = 'accepted'
    AND w.value LIKE 'attached to incident % by % on the triage page:%'
    AND w.value LIKE 'attached to incident ' || c.incident_id || ' by %';
UPDATE claim_evidence SET attached_by = (
    SELECT d.actor FROM evidence_decisions d
    WHERE d.message_id = claim_evidence.message_id AND d.claim_id = claim_evidence.claim_id AND d.decision = 'attached')
WHERE attached_by IS NULL AND EXISTS (
    SELECT 1 FROM evidence_decisions d
    WHERE d.message_id = claim_evidence.message_id AND d.claim_id = claim_evidence.claim_id AND d.decision = 'attached');
