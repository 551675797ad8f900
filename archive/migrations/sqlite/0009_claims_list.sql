-- 0007_claims_list: what the claims list needs to page in SQL, at the cost
-- of the page it shows (issue 19).
--
-- The list sorts by deadline (soonest first, none last: the key is
-- coalesce(deadline, '~'), and '~' sorts after every stored time), by the
-- last change, or by incident; each sort walks one index from the cursor
-- on. A status filter walks its own deadline index.
CREATE INDEX claims_list_deadline ON claims (coalesce(deadline, '~'));
CREATE INDEX claims_list_status_deadline ON claims (status, coalesce(deadline, '~'));
CREATE INDEX claims_list_updated ON claims (updated_at);
CREATE INDEX claims_list_incident ON claims (incident_id);

-- The counts by status (metrics) and of the overdue, soon and ineligible
-- claims (the list's header) read this index only.
CREATE INDEX claims_list_tally ON claims (status, eligible, deadline);

-- Late evidence is rare: a row's late count reads this small index, not
-- every evidence row of the claim.
CREATE INDEX claim_evidence_late ON claim_evidence (claim_id) WHERE late;
