-- 0014_search: what the search box and the messages list need (issue 20),
-- each kind of query (archive.ParseSearch) served by an index.
--
-- message_search indexes the words of every message's subject and its
-- judged incident IDs (FTS5, external content: the text stays in
-- messages). The triggers below keep it in the transaction that writes a
-- message; the rebuild fills it for the messages recorded before.
CREATE VIRTUAL TABLE message_search USING fts5 (
    subject, incident_ids,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER message_search_insert AFTER INSERT ON messages
BEGIN
    INSERT INTO message_search (rowid, subject, incident_ids) VALUES (NEW.id, NEW.subject, NEW.incident_ids);
END;
CREATE TRIGGER message_search_update AFTER UPDATE OF subject, incident_ids ON messages
BEGIN
    INSERT INTO message_search (message_search, rowid, subject, incident_ids)
        VALUES ('delete', OLD.id, OLD.subject, OLD.incident_ids);
    INSERT INTO message_search (rowid, subject, incident_ids) VALUES (NEW.id, NEW.subject, NEW.incident_ids);
END;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages
BEGIN
    INSERT INTO message_search (message_search, rowid, subject, incident_ids)
        VALUES ('delete', OLD.id, OLD.subject, OLD.incident_ids);
END;
INSERT INTO message_search (message_search) VALUES ('rebuild');
-- The rebuild leaves big segments at the lowest level, where new mail's
-- small ones would be merged into them again and again: ingest into a
-- 1M-message ledger wrote 13 % more pages and read 45 % more. One merge
-- now (2.7 s at 1M) puts them at the top, out of the way.
INSERT INTO message_search (message_search) VALUES ('optimize');

-- A sender's mail and a sender domain's mail, newest first. The domain
-- is everything after the address's '@' (archive's senderDomainKey: keep
-- the two in step); both compare without ASCII case.
CREATE INDEX messages_sender ON messages (sender COLLATE NOCASE, id);
CREATE INDEX messages_sender_domain ON messages (substr(sender, instr(sender, '@') + 1) COLLATE NOCASE, id);

-- A tenant's mail, newest first.
CREATE INDEX messages_tenant ON messages (tenant_id, id) WHERE tenant_id IS NOT NULL;

-- The claims that carry a support ticket number.
CREATE INDEX claim_fields_ticket ON claim_fields (value) WHERE field = 'ticket';
