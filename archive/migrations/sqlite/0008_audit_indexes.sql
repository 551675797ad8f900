-- 0007_audit_indexes: the audit trail's filters walk an index.
--
-- AuditEntries lists the newest entries first (ORDER BY seq DESC LIMIT n).
-- Each index below ends, implicitly, with the rowid, which is seq: the
-- entries of one action, or of one actor, are stored in seq order, so the
-- newest page of a filter reads that page and no more. audit_subject
-- (0001) serves the subject filters the same way, a subject prefix as a
-- range of it, and a claim's audit as one look-up per subject.
--
-- Ingest writes four to five entries per mail, and every index costs each
-- of them a write: only the filters the pages and the API offer have one.
-- Actor is compared without regard to ASCII case, so its index is too.
CREATE INDEX audit_action ON audit (action);
CREATE INDEX audit_actor ON audit (actor COLLATE NOCASE);
