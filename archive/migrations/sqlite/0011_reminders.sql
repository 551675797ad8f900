-- 0011_reminders: the deadline reminders sent, and those that keep failing
-- (issue 20). One row per claim, channel, deadline and threshold (days
-- before the deadline): a reminder is sent once per row, across restarts.
-- Rows are per deadline: when a claim's deadline moves, the old rows no
-- longer match it and the claim is reminded of the new one
-- (claims.ReminderOwed).
--
-- sent_at is NULL while the channel fails; failures counts the rounds
-- that failed and last_error says why (never a URL or a credential).
CREATE TABLE reminders (
    claim_id       INTEGER NOT NULL REFERENCES claims (id),
    channel        TEXT NOT NULL,
    deadline       TEXT NOT NULL,
    threshold_days INTEGER NOT NULL,
    sent_at        TEXT,
    failures       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (claim_id, channel, deadline, threshold_days)
) WITHOUT ROWID;
