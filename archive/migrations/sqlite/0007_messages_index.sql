-- Years of mail (issue 19): the verdict filters walk an index newest first,
-- the registry's re-match offer looks rejected mail up by sender domain,
-- and the counts by verdict are kept in a table rather than counted.

-- Messages(verdict) newest first: one index walk per verdict.
CREATE INDEX messages_verdict ON messages (verdict, id);

-- The rejected mail a registry change may make acceptable
-- (archive.RematchCandidates) is looked up by its judged sender domain
-- with the labels reversed and a dot after each ("it.contoso.com" is
-- "com.contoso.it."), so that a registry domain and all its subdomains
-- are one range of the index. Only those rejections are given one.
ALTER TABLE messages ADD COLUMN sender_domain_rev TEXT;

CREATE TRIGGER messages_domain_rev_insert AFTER INSERT ON messages
    WHEN NEW.verdict = 'rejected' AND NEW.reason IN ('unknown_domain', 'tenant_mismatch')
BEGIN
    UPDATE messages SET sender_domain_rev = (
        WITH RECURSIVE r (rest, acc) AS (
            SELECT lower(json_extract(NEW.judgment, '$.sender_domain')) || '.', ''
            UNION ALL
            SELECT substr(rest, instr(rest, '.') + 1), substr(rest, 1, instr(rest, '.')) || acc FROM r WHERE rest <> '')
        SELECT acc FROM r WHERE rest = '' AND acc <> '.')
    WHERE id = NEW.id;
END;
CREATE TRIGGER messages_domain_rev_update AFTER UPDATE OF judgment ON messages
BEGIN
    UPDATE messages SET sender_domain_rev = CASE
        WHEN NEW.verdict = 'rejected' AND NEW.reason IN ('unknown_domain', 'tenant_mismatch') THEN (
            WITH RECURSIVE r (rest, acc) AS (
                SELECT lower(json_extract(NEW.judgment, '$.sender_domain')) || '.', ''
                UNION ALL
                SELECT substr(rest, instr(rest, '.') + 1), substr(rest, 1, instr(rest, '.')) || acc FROM r WHERE rest <> '')
            SELECT acc FROM r WHERE rest = '' AND acc <> '.')
        END
    WHERE id = NEW.id;
END;
-- The rows judged before: the update trigger fills them in.
UPDATE messages SET judgment = judgment
WHERE verdict = 'rejected' AND reason IN ('unknown_domain', 'tenant_mismatch');
CREATE INDEX messages_rematch ON messages (sender_domain_rev) WHERE sender_domain_rev IS NOT NULL;

-- How many messages have each verdict now, kept by the triggers below in
-- the transaction that changes a verdict.
CREATE TABLE message_counts (
    verdict TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
);
INSERT INTO message_counts (verdict, n)
SELECT verdict, COUNT(*) FROM messages WHERE verdict IS NOT NULL GROUP BY verdict;

CREATE TRIGGER messages_count_insert AFTER INSERT ON messages WHEN NEW.verdict IS NOT NULL
BEGIN
    INSERT INTO message_counts (verdict, n) VALUES (NEW.verdict, 1)
        ON CONFLICT (verdict) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER messages_count_update AFTER UPDATE OF verdict ON messages
    WHEN OLD.verdict IS NOT NEW.verdict
BEGIN
    UPDATE message_counts SET n = n - 1 WHERE verdict = OLD.verdict;
    INSERT INTO message_counts (verdict, n) SELECT NEW.verdict, 1 WHERE NEW.verdict IS NOT NULL
        ON CONFLICT (verdict) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages WHEN OLD.verdict IS NOT NULL
BEGIN
    UPDATE message_counts SET n = n - 1 WHERE verdict = OLD.verdict;
END;
