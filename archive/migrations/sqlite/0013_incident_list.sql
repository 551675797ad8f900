-- 0013_incident_list: the incidents claims exist for, one row each, so
-- that the incident list (archive.Ledger.IncidentList) pages by an index
-- like the claims list, whatever the ledger holds (issue 20).
--
-- claims counts the incident's claims (one per tenant). open_deadline is
-- the soonest deadline of its claims that can still be filed
-- (claims.Fileable: open, ready; TestIncidentListFileable pins the two
-- together) and are eligible, NULL when there is none: what makes the
-- incident urgent. opened_at is when its first claim opened.
--
-- The triggers below keep each row from the incident's own claims, read
-- through claims_incident, so that a change costs the incident's claims,
-- never the ledger's.
CREATE TABLE incident_list (
    incident_id   TEXT PRIMARY KEY,
    claims        INTEGER NOT NULL,
    open_deadline TEXT,
    opened_at     TEXT NOT NULL
) WITHOUT ROWID;

-- Soonest open deadline first (incidents without one last), and newest
-- first; ties by incident ID.
CREATE INDEX incident_list_deadline ON incident_list (coalesce(open_deadline, '~'), incident_id);
CREATE INDEX incident_list_opened ON incident_list (opened_at, incident_id);

-- An incident's claims in deadline order (the incident page), and what the
-- rows above and the pages' counts read of them, from an index alone.
CREATE INDEX claims_incident_deadline ON claims (incident_id, coalesce(deadline, '~'));
CREATE INDEX claims_incident ON claims (incident_id, status, eligible, deadline, created_at);

CREATE TRIGGER incident_list_insert AFTER INSERT ON claims BEGIN
    INSERT OR REPLACE INTO incident_list (incident_id, claims, open_deadline, opened_at)
        SELECT incident_id, COUNT(*), MIN(CASE WHEN status IN ('open', 'ready') AND eligible THEN deadline END), MIN(created_at)
        FROM claims WHERE incident_id = NEW.incident_id GROUP BY incident_id;
END;

CREATE TRIGGER incident_list_update AFTER UPDATE OF incident_id, status, eligible, deadline, created_at ON claims BEGIN
    DELETE FROM incident_list WHERE incident_id IN (OLD.incident_id, NEW.incident_id);
    INSERT INTO incident_list (incident_id, claims, open_deadline, opened_at)
        SELECT incident_id, COUNT(*), MIN(CASE WHEN status IN ('open', 'ready') AND eligible THEN deadline END), MIN(created_at)
        FROM claims WHERE incident_id IN (OLD.incident_id, NEW.incident_id) GROUP BY incident_id;
END;

CREATE TRIGGER incident_list_delete AFTER DELETE ON claims BEGIN
    DELETE FROM incident_list WHERE incident_id = OLD.incident_id;
    INSERT INTO incident_list (incident_id, claims, open_deadline, opened_at)
        SELECT incident_id, COUNT(*), MIN(CASE WHEN status IN ('open', 'ready') AND eligible THEN deadline END), MIN(created_at)
        FROM claims WHERE incident_id = OLD.incident_id GROUP BY incident_id;
END;

INSERT INTO incident_list (incident_id, claims, open_deadline, opened_at)
    SELECT incident_id, COUNT(*), MIN(CASE WHEN status IN ('open', 'ready') AND eligible THEN deadline END), MIN(created_at)
    FROM claims GROUP BY incident_id;
