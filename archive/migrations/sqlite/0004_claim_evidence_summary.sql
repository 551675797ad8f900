-- 0004_claim_evidence_summary: what a claim's deadline and checklist need
-- of its evidence, kept on the claim. The work on each message used to
-- recompute both over all of the claim's evidence, so a claim with
-- thousands of emails slowed every new one down.
--
-- evidence_earliest is the earliest evidence date (as messages store it:
-- internal date, else sent date, else the time it was recorded);
-- first_stored_message is the oldest evidence whose bundle is stored,
-- oldest by that date, then by SHA-256.
ALTER TABLE claims ADD COLUMN evidence_earliest TEXT;
ALTER TABLE claims ADD COLUMN first_stored_message INTEGER; -- a messages id

UPDATE claims SET
    evidence_earliest = (
        SELECT MIN(COALESCE(m.internal_date, m.sent_date, m.recorded_at)) FROM messages m
        WHERE m.id IN (SELECT message_id FROM claim_evidence WHERE claim_id = claims.id)),
    first_stored_message = (
        SELECT m.id FROM messages m
        WHERE m.id IN (SELECT message_id FROM claim_evidence WHERE claim_id = claims.id)
            AND m.bundle_key IS NOT NULL
        ORDER BY COALESCE(m.internal_date, m.sent_date, m.recorded_at), m.sha256 LIMIT 1);
