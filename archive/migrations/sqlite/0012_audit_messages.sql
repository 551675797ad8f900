-- 0012_audit_messages: a message's audit entries are found by the
-- message's row ID, not by its hash.
--
-- audit_subject indexed every entry by subject, and a message's subject is
-- "message:<sha256>": a random key. Each mail added four such entries at
-- random places of an index that, at a million messages, is 370 MB, and
-- every one dirtied a page nobody else would touch for months: read into
-- the cache, written to the WAL, copied by the checkpoint. Ingest into a
-- 1M-message ledger ran at 84 % of its speed into an empty one.
--
-- audit_messages links an entry to its message's row ID instead. Row IDs
-- grow as mail arrives, so new links go to the end of the table, where the
-- pages are already in the cache. audit_subject keeps the other subjects
-- (claims, users, incidents, ...): its WHERE clause leaves the message
-- subjects out, and a query uses it only when it repeats that clause.
--
-- Like the audit trail, the links are append-only. They are an index,
-- not evidence: the chain does not cover them, and no foreign key ties
-- them to audit or messages (whose rows are never deleted), which would
-- cost each of them two more look-ups.
CREATE TABLE audit_messages (
    message_id INTEGER NOT NULL, -- messages (id)
    seq        INTEGER NOT NULL, -- audit (seq)
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;

-- Every message entry written so far, in the order the table keeps them.
INSERT INTO audit_messages (message_id, seq)
    SELECT m.id, a.seq FROM audit a JOIN messages m ON m.sha256 = substr(a.subject, 9)
    WHERE a.subject >= 'message:' AND a.subject < 'message;'
    ORDER BY m.id, a.seq;

DROP INDEX audit_subject;
CREATE INDEX audit_subject ON audit (subject) WHERE substr(subject, 1, 8) <> 'message:';

CREATE TRIGGER audit_messages_no_update BEFORE UPDATE ON audit_messages
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
CREATE TRIGGER audit_messages_no_delete BEFORE DELETE ON audit_messages
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
