package archive

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// The work on one message is a sequence of idempotent steps, each committed
// on its own, so that a poller killed at any point and restarted finishes
// every message exactly once:
//
//	RecordMessage   insert-or-get by the raw SHA-256
//	RecordJudgment  the verdict, and for accepted mail the claims it opens
//	                and the evidence it attaches, in one transaction
//	SetBundle       the key of the stored evidence bundle
//	MarkMoved       the folder the mail was moved to in the mailbox
//
// Judgment and bundle may come in either order. Every message gets all
// steps, whatever its verdict: a rejected mail's bundle is the record of
// why it did not count. UnfinishedMessages lists the rows whose work is
// not done; Message.Next says which step is next.

// MessageRecord is what the poller knows of a message when it fetches it.
type MessageRecord struct {
	SHA256      string // hex SHA-256 of the raw bytes; the message's identity
	Size        int64
	Mailbox     string // the account, e.g. "claims@partner.example"
	Folder      string // e.g. "INBOX"
	UIDValidity uint32
	UID         uint32
	// InternalDate is the IMAP INTERNALDATE: when the server received it.
	InternalDate time.Time
	// Date is the Date header; zero when missing.
	Date      time.Time
	MessageID string // without angle brackets
	Sender    string // the From addr-spec
	Subject   string
}

// Step is one step of the work on a message.
type Step string

// The steps, in the order Next reports them.
const (
	StepJudge Step = "judge"
	StepStore Step = "store"
	StepMove  Step = "move"
	StepDone  Step = "done"
)

// Message is a message row: where and when it was first seen and the state
// of each step.
type Message struct {
	ID int64
	MessageRecord
	RecordedAt time.Time

	// Judgment is nil until RecordJudgment.
	Judgment     *rules.Judgment
	RulesVersion string
	JudgedAt     time.Time

	BundleKey    string // empty until SetBundle
	BundleSHA256 string // hex SHA-256 of the bundle object, when known
	StoredAt     time.Time

	MovedTo string // empty until MarkMoved
	MovedAt time.Time
}

// Next returns the first step not yet done, or StepDone.
func (m *Message) Next() Step {
	switch {
	case m.Judgment == nil:
		return StepJudge
	case m.BundleKey == "":
		return StepStore
	case m.MovedAt.IsZero():
		return StepMove
	}
	return StepDone
}

// EvidenceDate is the date the message counts from for deadlines: when the
// mail server received it, else its Date header, else when it was recorded.
func (m *Message) EvidenceDate() time.Time {
	return claims.EvidenceDate(m.InternalDate, m.Date, m.RecordedAt)
}

func messageSubject(sha string) string { return messageSubjectPrefix + sha }

// messageSubjectPrefix starts the audit subject of every message.
const messageSubjectPrefix = "message:"

func validSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// RecordMessage records a fetched message, or finds the row already recorded
// for the same raw bytes. created reports whether the row is new; when it is
// not, the returned Message says how far the work on it got, and its
// location is where it was first seen (a second copy in the mailbox is a
// duplicate the caller may move away).
//
// It is idempotent and safe for concurrent use.
func (l *Ledger) RecordMessage(ctx context.Context, rec MessageRecord) (msg *Message, created bool, err error) {
	op := "record message " + rec.SHA256
	if err := checkRecord(rec); err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	err = l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		msg, err = l.insertMessage(ctx, tx, rec, nil, "", nil)
		if err != nil {
			return err
		}
		if created = msg != nil; !created {
			msg, err = messageBy(ctx, tx, "m.sha256 = ?", rec.SHA256)
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return msg, created, nil
}

// RecordMessageJudgment is RecordMessage and RecordJudgment in one
// transaction, for the pipeline: it records the message (or finds it) and
// judges it j unless it was judged before, in which case the first judgment
// stands. The returned Message carries the judgment in force. One
// transaction instead of two halves the commits of this step and leaves no
// recorded but unjudged message behind a crash.
func (l *Ledger) RecordMessageJudgment(ctx context.Context, rec MessageRecord, j rules.Judgment, rulesVersion string) (msg *Message, created bool, err error) {
	return l.recordJudged(ctx, "record and judge message "+rec.SHA256, rec, j, rulesVersion, nil)
}

// StoredBundle names an evidence bundle already in the store.
type StoredBundle struct {
	Key    string
	SHA256 string // of the bundle object, lowercase hex
}

// RecordStoredMessage records a new message, its judgment j and its bundle
// b, which the caller stored first, in one transaction: what
// RecordMessageJudgment and SetBundle do in two. The audit trail has the
// message's reception, its bundle, then its judgment and the claims it
// touches; claims see the evidence stored from the start, so each is
// brought up to date once.
//
// When the ledger holds the message already, it is RecordMessageJudgment
// and b is not recorded: the row, and any judgment it has, stand, and the
// caller finishes the row as it finds it (its bundle must show the
// recorded judgment). created tells the two apart.
func (l *Ledger) RecordStoredMessage(ctx context.Context, rec MessageRecord, j rules.Judgment, rulesVersion string, b StoredBundle) (msg *Message, created bool, err error) {
	op := "record stored message " + rec.SHA256
	if b.Key == "" || !validSHA256(b.SHA256) {
		return nil, false, fmt.Errorf("archive: %s: a bundle key and its 64-digit lower-case hex SHA-256 are required", op)
	}
	return l.recordJudged(ctx, op, rec, j, rulesVersion, &b)
}

// recordJudged is RecordMessageJudgment, and RecordStoredMessage when b is
// not nil.
func (l *Ledger) recordJudged(ctx context.Context, op string, rec MessageRecord, j rules.Judgment, rulesVersion string, b *StoredBundle) (msg *Message, created bool, err error) {
	if err := checkRecord(rec); err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := checkJudgment(j); err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	err = l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		msg, err = l.insertMessage(ctx, tx, rec, &j, rulesVersion, b)
		if err != nil {
			return err
		}
		if created = msg != nil; !created {
			msg, err = l.judgeOnce(ctx, tx, rec.SHA256, j, rulesVersion)
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return msg, created, nil
}

// judgeOnce judges the recorded message with the given raw SHA-256 j,
// unless it was judged before, and returns its row: the first judgment
// stands.
func (l *Ledger) judgeOnce(ctx context.Context, tx dbtx, sha string, j rules.Judgment, rulesVersion string) (*Message, error) {
	msg, err := messageBy(ctx, tx, "m.sha256 = ?", sha)
	if err != nil || msg.Judgment != nil {
		return msg, err
	}
	if _, err := l.judge(ctx, tx, msg, j, rulesVersion, ActorSystem, ActionJudged, nil); err != nil {
		return nil, err
	}
	return messageBy(ctx, tx, "m.id = ?", msg.ID)
}

// insertMessage inserts rec's row with the audit entry of its reception,
// unless a row for the same bytes exists, and returns the row (nil when
// there was one). When j is not nil the row is inserted judged j, and
// stored as b when b is not nil, with the audit entries of its bundle and
// its judgment after the reception's. One INSERT instead of an INSERT and
// two UPDATEs, and no reading the row back, took a quarter to a third off
// recording a new mail.
func (l *Ledger) insertMessage(ctx context.Context, tx dbtx, rec MessageRecord, j *rules.Judgment, rulesVersion string, b *StoredBundle) (*Message, error) {
	now := l.now()
	var cols judgmentRow
	judged := make([]any, 7) // NULL until judged
	if j != nil {
		var err error
		if cols, err = judgmentColumns(*j); err != nil {
			return nil, err
		}
		judged = []any{cols.verdict, cols.reason, cols.tenant, cols.incidents, cols.judgment, rulesVersion, fmtTime(now)}
	}
	stored := make([]any, 3) // NULL until stored
	if b != nil {
		stored = []any{b.Key, b.SHA256, fmtTime(now)}
	}
	args := append([]any{rec.SHA256, rec.Size, rec.Mailbox, rec.Folder, int64(rec.UIDValidity), int64(rec.UID),
		nullTime(rec.InternalDate), nullTime(rec.Date), fmtTime(now),
		fmtTime(claims.EvidenceDate(storedTime(rec.InternalDate), storedTime(rec.Date), storedTime(now))),
		rec.MessageID, rec.Sender, rec.Subject},
		append(judged, stored...)...)
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO messages
		(sha256, size, mailbox, folder, uidvalidity, uid, internal_date, sent_date, recorded_at, evidence_date, message_id, sender, subject,
		verdict, reason, tenant_id, incident_ids, judgment, rules_version, judged_at, bundle_key, bundle_sha256, stored_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING RETURNING id`, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // recorded before
	}
	if err != nil {
		return nil, err
	}
	if _, err := l.appendMessageAudit(ctx, tx, now, ActorSystem, ActionMessageReceived, id, rec.SHA256, receivedDetails(rec)); err != nil {
		return nil, err
	}
	if b != nil {
		if _, err := l.appendMessageAudit(ctx, tx, now, ActorSystem, ActionBundleStored, id, rec.SHA256, bundleDetails(b.Key, b.SHA256, nil)); err != nil {
			return nil, err
		}
	}

	// The row as messageBy would read it.
	m := &Message{ID: id, MessageRecord: rec, RecordedAt: storedTime(now)}
	m.InternalDate, m.Date = storedTime(rec.InternalDate), storedTime(rec.Date)
	if b != nil {
		m.BundleKey, m.BundleSHA256, m.StoredAt = b.Key, b.SHA256, storedTime(now)
	}
	if j == nil {
		return m, nil
	}
	// A new row has no judgment before this one: only its ID and hash
	// count.
	if _, err := l.applyJudgment(ctx, tx, now, &Message{ID: id, MessageRecord: MessageRecord{SHA256: rec.SHA256}}, *j, rulesVersion, ActorSystem, ActionJudged, nil); err != nil {
		return nil, err
	}
	// Decoded from its stored JSON, not j itself: encoding replaces
	// invalid UTF-8, which hostile mail can put in the sender.
	m.Judgment = new(rules.Judgment)
	if err := json.Unmarshal([]byte(cols.judgment), m.Judgment); err != nil {
		return nil, err
	}
	m.RulesVersion, m.JudgedAt = rulesVersion, storedTime(now)
	return m, nil
}

func checkRecord(rec MessageRecord) error {
	if !validSHA256(rec.SHA256) {
		return errors.New("the SHA-256 must be 64 lower-case hex digits")
	}
	if rec.Mailbox == "" || rec.Folder == "" || rec.Size < 0 {
		return errors.New("mailbox, folder and a size >= 0 are required")
	}
	return nil
}

// receivedDetails are the details of rec's message_received entry.
func receivedDetails(rec MessageRecord) map[string]any {
	return map[string]any{
		"sha256": rec.SHA256, "size": rec.Size, "mailbox": rec.Mailbox, "folder": rec.Folder,
		"uidvalidity": rec.UIDValidity, "uid": rec.UID, "message_id": rec.MessageID,
		"sender": rec.Sender, "subject": rec.Subject,
	}
}

// Message returns the message row with the given ID, or ErrNotFound.
func (l *Ledger) Message(ctx context.Context, id int64) (*Message, error) {
	m, err := messageBy(ctx, &l.reads, "m.id = ?", id)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("message %d", id), err)
	}
	return m, nil
}

// MessageBySHA256 returns the message row for the raw bytes with the given
// hex SHA-256, or ErrNotFound.
func (l *Ledger) MessageBySHA256(ctx context.Context, sha string) (*Message, error) {
	m, err := messageBy(ctx, &l.reads, "m.sha256 = ?", strings.ToLower(sha))
	if err != nil {
		return nil, dbErr("message "+sha, err)
	}
	return m, nil
}

// UnfinishedMessages returns up to limit messages (all when limit <= 0)
// first seen in mailbox/folder whose work is not done, oldest first. The
// poller finishes them before it fetches anything new.
func (l *Ledger) UnfinishedMessages(ctx context.Context, mailbox, folder string, limit int) ([]*Message, error) {
	if limit <= 0 {
		limit = math.MaxInt64 // no limit
	}
	rows, err := l.r.QueryContext(ctx, messageSelect+` WHERE m.mailbox = ? AND m.folder = ? AND m.moved_at IS NULL
		ORDER BY m.id LIMIT ?`, mailbox, folder, limit)
	if err != nil {
		return nil, dbErr("unfinished messages", err)
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, dbErr("unfinished messages", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("unfinished messages", err)
	}
	return out, nil
}

// Attachment is one (claim, message) link made by a judgment.
type Attachment struct {
	ClaimID    int64
	TenantID   string
	IncidentID string
	// ClaimCreated is set when this judgment opened the claim.
	ClaimCreated bool
}

// RecordJudgment stores the verdict on message id and, for accepted mail,
// attaches it as evidence to the claim of each (tenant, incident) pair it
// names, opening the claims that do not exist yet: all in one transaction,
// with the audit entries that describe it.
//
// The first judgment stands: calling it again for a judged message changes
// nothing and returns the stored judgment's attachments with changed false
// (use reprocessMessage to judge again under new rules).
func (l *Ledger) RecordJudgment(ctx context.Context, id int64, j rules.Judgment, rulesVersion string) (atts []Attachment, changed bool, err error) {
	op := fmt.Sprintf("record judgment of message %d", id)
	if err := checkJudgment(j); err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	err = l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		m, err := messageBy(ctx, tx, "m.id = ?", id)
		if err != nil {
			return err
		}
		if m.Judgment != nil {
			atts, err = attachmentsOf(ctx, tx, id)
			return err
		}
		changed = true
		atts, err = l.judge(ctx, tx, m, j, rulesVersion, ActorSystem, ActionJudged, nil)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return atts, changed, nil
}

// reprocessMessage replaces the judgment of message id, e.g. after a rules
// change. Evidence links the new judgment no longer supports are removed
// from open and ready claims and kept, with an audit note, on claims
// already submitted or decided; new links are made; claims are never
// deleted. The returned attachments are the message's links afterwards.
// The audit trail keeps the old judgment.
//
// It leaves the bundle key alone, so the stored bundle then shows the old
// judgment: re-judging stored mail goes through RecordRejudgment, which
// records the new judgment with its own bundle.
func (l *Ledger) reprocessMessage(ctx context.Context, id int64, j rules.Judgment, rulesVersion, actor string) ([]Attachment, error) {
	op := fmt.Sprintf("reprocess message %d", id)
	if err := checkJudgment(j); err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := checkActor(actor); err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	var atts []Attachment
	err := l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		m, err := messageBy(ctx, tx, "m.id = ?", id)
		if err != nil {
			return err
		}
		atts, err = l.judge(ctx, tx, m, j, rulesVersion, actor, ActionReprocessed, nil)
		return err
	})
	return atts, err
}

func checkJudgment(j rules.Judgment) error {
	switch j.Verdict {
	case rules.Accepted, rules.Rejected, rules.Unmatched:
	default:
		return fmt.Errorf("unknown verdict %q", j.Verdict)
	}
	if j.Verdict == rules.Accepted {
		if _, err := normTenantID(j.TenantID); err != nil {
			return fmt.Errorf("accepted judgment: %w", err)
		}
		if len(j.IncidentIDs) == 0 {
			return errors.New("accepted judgment names no incident ID")
		}
		for _, inc := range j.IncidentIDs {
			if _, err := normIncidentID(inc); err != nil {
				return fmt.Errorf("accepted judgment: %w", err)
			}
		}
	}
	return nil
}

// judge writes j as message m's judgment and makes the evidence links it
// implies. Links the judgment does not imply are removed. an is nil for
// the rules' judgment, else says how an analyst's differs.
func (l *Ledger) judge(ctx context.Context, tx dbtx, m *Message, j rules.Judgment, rulesVersion, actor string, action Action, an *analystJudging) ([]Attachment, error) {
	now := l.now()
	cols, err := judgmentColumns(j)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET verdict = ?, reason = ?, tenant_id = ?, incident_ids = ?,
		judgment = ?, rules_version = ?, judged_at = ? WHERE id = ?`,
		cols.verdict, cols.reason, cols.tenant, cols.incidents, cols.judgment, rulesVersion, fmtTime(now), m.ID); err != nil {
		return nil, err
	}
	return l.applyJudgment(ctx, tx, now, m, j, rulesVersion, actor, action, an)
}

// analystJudging is how an analyst's judgment, recorded by
// RecordRejudgment with ByAnalyst or Override, is applied unlike the
// rules'.
type analystJudging struct {
	// byAnalyst: the links the judgment makes are the analyst's
	// 'attached' decisions, and may undo their 'detached' ones.
	byAnalyst bool
	// details are added to the judgment's audit entry.
	details map[string]any
}

// judgmentRow is a judgment as the messages table stores it.
type judgmentRow struct {
	verdict, reason, tenant string
	incidents, judgment     string // JSON
}

// incidentList is j's incident IDs, empty rather than nil: the ledger
// stores and audits "[]", never null.
func incidentList(j rules.Judgment) []string {
	if j.IncidentIDs == nil {
		return []string{}
	}
	return j.IncidentIDs
}

// judgmentColumns is j as the messages table stores it.
func judgmentColumns(j rules.Judgment) (judgmentRow, error) {
	jb, err := json.Marshal(j)
	if err != nil {
		return judgmentRow{}, err
	}
	ib, err := json.Marshal(incidentList(j))
	if err != nil {
		return judgmentRow{}, err
	}
	return judgmentRow{verdict: string(j.Verdict), reason: string(j.Reason), tenant: tenantColumn(j.TenantID),
		incidents: string(ib), judgment: string(jb)}, nil
}

// applyJudgment follows message m's row being given judgment j: it audits
// the judgment and makes the evidence links it implies, removing those it
// does not. m carries the message's previous judgment, if any.
//
// Analysts' decisions stand: a link an analyst detached is not made
// again, nor one they attached removed, unless an says the judgment is an
// analyst's own attach (which makes its links whatever was decided).
func (l *Ledger) applyJudgment(ctx context.Context, tx dbtx, now time.Time, m *Message, j rules.Judgment, rulesVersion, actor string, action Action, an *analystJudging) ([]Attachment, error) {
	details := map[string]any{
		"verdict": j.Verdict, "reason": j.Reason, "tenant_id": j.TenantID, "incident_ids": incidentList(j),
		"authentication": j.Authentication, "rules_version": rulesVersion,
	}
	if action == ActionReprocessed && m.Judgment != nil {
		details["previous_verdict"] = m.Judgment.Verdict
		details["previous_rules_version"] = m.RulesVersion
	}
	if an != nil {
		maps.Copy(details, an.details)
	}
	// A message judged for the first time has no links, so no decisions:
	// the work on new mail asks nothing more.
	var decided map[int64]Decision
	var detached map[[2]string]bool // by tenant, incident
	if m.Judgment != nil {
		ds, err := decisionsOf(ctx, tx, m.ID)
		if err != nil {
			return nil, err
		}
		decided, detached = make(map[int64]Decision, len(ds)), map[[2]string]bool{}
		for _, d := range ds {
			decided[d.ClaimID] = d
			if d.Decision == DecisionDetached {
				detached[[2]string{d.TenantID, d.IncidentID}] = true
			}
		}
	}
	// The (tenant, incident) pairs to link, without those an analyst
	// detached.
	type link struct{ tenant, incident string }
	var links []link
	var keptDetached []string
	if j.Verdict == rules.Accepted {
		tenant, _ := normTenantID(j.TenantID)
		seen := map[string]bool{}
		for _, raw := range j.IncidentIDs {
			inc, _ := normIncidentID(raw)
			if seen[inc] {
				continue
			}
			seen[inc] = true
			if detached[[2]string{tenant, inc}] && (an == nil || !an.byAnalyst) {
				keptDetached = append(keptDetached, inc)
				continue
			}
			links = append(links, link{tenant, inc})
		}
	}
	if len(keptDetached) > 0 {
		details["kept_detached"] = keptDetached
	}
	subject := messageSubject(m.SHA256)
	if _, err := l.appendMessageAudit(ctx, tx, now, actor, action, m.ID, m.SHA256, details); err != nil {
		return nil, err
	}

	var atts []Attachment
	want := map[int64]bool{}
	touched := map[int64]bool{} // the claims to refresh
	for _, lk := range links {
		tenant, inc := lk.tenant, lk.incident
		claimID, status, created, err := l.openClaim(ctx, tx, now, actor, tenant, inc, subject)
		if err != nil {
			return nil, err
		}
		if an != nil && an.byAnalyst {
			// An analyst changes only what may change: a submitted or
			// decided claim is reopened first. The rules' mail for it
			// is attached all the same, and marked late.
			if err := claims.EditError(status); err != nil {
				return nil, fmt.Errorf("archive: attach to claim %d (%s): %w", claimID, inc, err)
			}
		}
		late := claims.LateFor(status)
		res, err := tx.ExecContext(ctx, `INSERT INTO claim_evidence (claim_id, message_id, attached_at, late)
			VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, claimID, m.ID, fmtTime(now), late)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			changed, err := noteEvidence(ctx, tx, claimID, m.ID)
			if err != nil {
				return nil, err
			}
			// The claim's deadline and checklist follow from its
			// evidence only through the summary noteEvidence keeps:
			// when that is unchanged, so is the claim.
			if changed || created {
				touched[claimID] = true
			}
			details := map[string]any{"message": m.SHA256, "tenant_id": tenant, "incident_id": inc}
			if late {
				details["late"] = fmt.Sprintf("the claim is already %s", status)
			}
			if an != nil && an.byAnalyst {
				details["attached_by"] = actor
			}
			if _, err := l.appendAudit(ctx, tx, now, actor, ActionEvidenceAttached, claimSubject(claimID), details); err != nil {
				return nil, err
			}
		}
		if an != nil && an.byAnalyst {
			if _, err := tx.ExecContext(ctx, `UPDATE claim_evidence SET attached_by = ? WHERE claim_id = ? AND message_id = ?`,
				actor, claimID, m.ID); err != nil {
				return nil, err
			}
			if err := decide(ctx, tx, now, m.ID, claimID, DecisionAttached, actor, ""); err != nil {
				return nil, err
			}
		}
		want[claimID] = true
		atts = append(atts, Attachment{ClaimID: claimID, TenantID: tenant, IncidentID: inc, ClaimCreated: created})
	}
	// Only a judgment makes links: a message judged for the first time
	// has none to remove.
	var old []Attachment
	if m.Judgment != nil {
		var err error
		if old, err = attachmentsOf(ctx, tx, m.ID); err != nil {
			return nil, err
		}
	}
	for _, a := range old {
		if want[a.ClaimID] {
			continue
		}
		if d, ok := decided[a.ClaimID]; ok && d.Decision == DecisionAttached {
			if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(a.ClaimID), map[string]any{
				"evidence_kept": m.SHA256, "why": "the message's new judgment no longer supports this claim, but " + d.String() +
					"; only a re-judgment that overrides that decision removes it",
			}); err != nil {
				return nil, err
			}
			atts = append(atts, a)
			continue
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM claims WHERE id = ?`, a.ClaimID).Scan(&status); err != nil {
			return nil, err
		}
		if s := claims.Status(status); !claims.Editable(s) {
			// What was submitted stays the claim's evidence; the trail
			// says the new judgment disagrees.
			if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(a.ClaimID), map[string]any{
				"evidence_kept": m.SHA256, "why": fmt.Sprintf("the message's new judgment no longer supports this claim, but the claim is %s", s),
			}); err != nil {
				return nil, err
			}
			atts = append(atts, a)
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM claim_evidence WHERE claim_id = ? AND message_id = ?`, a.ClaimID, m.ID); err != nil {
			return nil, err
		}
		if err := recomputeEvidenceSummary(ctx, tx, a.ClaimID); err != nil {
			return nil, err
		}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(a.ClaimID), map[string]any{
			"evidence_removed": m.SHA256, "why": "the message's new judgment no longer supports this claim",
		}); err != nil {
			return nil, err
		}
		touched[a.ClaimID] = true
	}
	ids := make([]int64, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the audit trail must not depend on map order
	if err := l.refreshClaims(ctx, tx, now, actor, ids); err != nil {
		return nil, err
	}
	return atts, nil
}

// tenantColumn stores a tenant ID as claims do, so that the two join; an
// ID that is no GUID (in rejected mail) is kept as it came.
func tenantColumn(id string) string {
	if t, err := normTenantID(id); err == nil {
		return t
	}
	return id
}

// MessageClaims returns the claims message id is evidence for now, by
// claim ID.
func (l *Ledger) MessageClaims(ctx context.Context, id int64) ([]Attachment, error) {
	atts, err := attachmentsOf(ctx, l.r, id)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("claims of message %d", id), err)
	}
	return atts, nil
}

func attachmentsOf(ctx context.Context, q querier, messageID int64) ([]Attachment, error) {
	// A subquery, not a join: see loadClaim.
	rows, err := q.QueryContext(ctx, `SELECT c.id, c.tenant_id, c.incident_id FROM claims c
		WHERE c.id IN (SELECT claim_id FROM claim_evidence WHERE message_id = ?) ORDER BY c.id`, messageID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var atts []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.ClaimID, &a.TenantID, &a.IncidentID); err != nil {
			return nil, err
		}
		atts = append(atts, a)
	}
	return atts, rows.Err()
}

// SetBundle records that message id's evidence bundle is stored under key;
// bundleSHA256 is the hex SHA-256 of the bundle object ("" when unknown),
// checked when a claim package is written. Recording the same key again is
// a no-op; a different key is refused with ErrExists, since evidence is
// write-once.
func (l *Ledger) SetBundle(ctx context.Context, id int64, key, bundleSHA256 string) error {
	op := fmt.Sprintf("set bundle of message %d", id)
	if key == "" {
		return fmt.Errorf("archive: %s: empty key", op)
	}
	if bundleSHA256 != "" && !validSHA256(bundleSHA256) {
		return fmt.Errorf("archive: %s: the bundle SHA-256 must be 64 lower-case hex digits", op)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		var sha string
		var curKey, curSHA sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT sha256, bundle_key, bundle_sha256 FROM messages WHERE id = ?`, id).
			Scan(&sha, &curKey, &curSHA)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("message %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if curKey.String != "" {
			if curKey.String != key || (bundleSHA256 != "" && curSHA.String != "" && curSHA.String != bundleSHA256) {
				return fmt.Errorf("archive: %s: already stored as %s: %w", op, curKey.String, ErrExists)
			}
			return nil
		}
		now := l.now()
		if err := l.writeBundle(ctx, tx, now, ActorSystem, id, sha, key, bundleSHA256, nil); err != nil {
			return err
		}
		// Readiness counts only evidence whose bundle is stored: a claim
		// whose first stored evidence this message becomes is refreshed.
		// Sorted here: with ORDER BY, SQLite prepared the query again on
		// every run (44 against 15 µs).
		claims, err := queryIDs(ctx, tx, `SELECT claim_id FROM claim_evidence WHERE message_id = ?`, id)
		if err != nil {
			return err
		}
		slices.Sort(claims)
		for _, claimID := range claims {
			changed, err := noteEvidence(ctx, tx, claimID, id)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			if err := l.refreshClaim(ctx, tx, now, ActorSystem, claimID); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeBundle records that the bundle of message id (whose raw SHA-256 is
// sha) is stored under key, with the bundle_stored audit entry; details
// are added to the entry's.
func (l *Ledger) writeBundle(ctx context.Context, tx dbtx, now time.Time, actor string, id int64, sha, key, bundleSHA256 string, details map[string]any) error {
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET bundle_key = ?, bundle_sha256 = ?, stored_at = ? WHERE id = ?`,
		key, bundleSHA256, fmtTime(now), id); err != nil {
		return err
	}
	_, err := l.appendMessageAudit(ctx, tx, now, actor, ActionBundleStored, id, sha, bundleDetails(key, bundleSHA256, details))
	return err
}

// bundleDetails are the details of a bundle_stored entry: the bundle's key
// and SHA-256, and extra.
func bundleDetails(key, bundleSHA256 string, extra map[string]any) map[string]any {
	d := map[string]any{"key": key, "bundle_sha256": bundleSHA256}
	maps.Copy(d, extra)
	return d
}

// queryIDs runs a query of one integer column and returns its values.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// MarkMoved records that message id was moved to folder in its mailbox, the
// last step. Marking it again with the same folder is a no-op; with another
// folder it is an error (the mail can only be in one place).
func (l *Ledger) MarkMoved(ctx context.Context, id int64, folder string) error {
	op := fmt.Sprintf("mark message %d moved", id)
	if folder == "" {
		return fmt.Errorf("archive: %s: empty folder", op)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		m, err := moveStateBy(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		return l.markMoved(ctx, tx, m, folder)
	})
}

// Move names a message moved out of the mailbox folder it was received
// in, for MarkMovedMany.
type Move struct {
	SHA256  string // lowercase hex of the message
	Mailbox string
	Folder  string
	UID     uint32
}

// MarkMovedMany records, in one transaction, that each message of moves
// now lives in folder. A move of a copy the ledger did not record (the same
// bytes received again elsewhere, or under another UID) is skipped: the
// ledger follows the first copy. Otherwise it is MarkMoved for each.
func (l *Ledger) MarkMovedMany(ctx context.Context, moves []Move, folder string) error {
	if len(moves) == 0 {
		return nil
	}
	op := fmt.Sprintf("mark %d messages moved to %s", len(moves), folder)
	if folder == "" {
		return fmt.Errorf("archive: %s: empty folder", op)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		for _, mv := range moves {
			m, err := moveStateBy(ctx, tx, "sha256 = ?", mv.SHA256)
			if err != nil {
				return err
			}
			if m.mailbox != mv.Mailbox || m.folder != mv.Folder || m.uid != mv.UID {
				continue
			}
			if err := l.markMoved(ctx, tx, m, folder); err != nil {
				return err
			}
		}
		return nil
	})
}

// moveState is what recording a move needs of a message.
type moveState struct {
	id               int64
	sha256           string
	mailbox, folder  string
	uidValidity, uid uint32
	movedTo          string
}

func moveStateBy(ctx context.Context, q querier, where string, arg any) (*moveState, error) {
	var m moveState
	var movedTo sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, sha256, mailbox, folder, uidvalidity, uid, moved_to FROM messages WHERE `+where, arg).
		Scan(&m.id, &m.sha256, &m.mailbox, &m.folder, &m.uidValidity, &m.uid, &movedTo)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %v: %w", arg, ErrNotFound)
	}
	m.movedTo = movedTo.String
	return &m, err
}

func (l *Ledger) markMoved(ctx context.Context, tx dbtx, m *moveState, folder string) error {
	if m.movedTo != "" {
		if m.movedTo != folder {
			return fmt.Errorf("archive: mark message %d moved to %q: already moved to %q", m.id, folder, m.movedTo)
		}
		return nil
	}
	now := l.now()
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET moved_to = ?, moved_at = ? WHERE id = ?`, folder, fmtTime(now), m.id); err != nil {
		return err
	}
	_, err := l.appendMessageAudit(ctx, tx, now, ActorSystem, ActionMoved, m.id, m.sha256, map[string]any{
		"mailbox": m.mailbox, "from": m.folder, "to": folder, "uid": m.uid, "uidvalidity": m.uidValidity,
	})
	return err
}

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// messageColumns are the columns scanMessage reads, of messages m.
const messageColumns = `SELECT m.id, m.sha256, m.size, m.mailbox, m.folder, m.uidvalidity, m.uid,
	m.internal_date, m.sent_date, m.recorded_at, m.message_id, m.sender, m.subject,
	m.judgment, m.rules_version, m.judged_at, m.bundle_key, m.bundle_sha256, m.stored_at,
	m.moved_to, m.moved_at`

const messageSelect = messageColumns + ` FROM messages m`

func messageBy(ctx context.Context, q querier, where string, arg any) (*Message, error) {
	rows, err := q.QueryContext(ctx, messageSelect+" WHERE "+where, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("message %v: %w", arg, ErrNotFound)
	}
	m, err := scanMessage(rows)
	if err != nil {
		return nil, err
	}
	return m, rows.Close()
}

func scanMessage(rows *sql.Rows) (*Message, error) {
	var (
		m                                                     Message
		uidValidity, uid                                      int64
		internal, sent, recorded, judgedAt, storedAt, movedAt sql.NullString
		judgment, rulesVersion, bundleKey, bundleSHA, movedTo sql.NullString
	)
	if err := rows.Scan(&m.ID, &m.SHA256, &m.Size, &m.Mailbox, &m.Folder, &uidValidity, &uid,
		&internal, &sent, &recorded, &m.MessageID, &m.Sender, &m.Subject,
		&judgment, &rulesVersion, &judgedAt, &bundleKey, &bundleSHA, &storedAt, &movedTo, &movedAt); err != nil {
		return nil, err
	}
	m.UIDValidity, m.UID = uint32(uidValidity), uint32(uid)
	m.RulesVersion, m.BundleKey, m.BundleSHA256, m.MovedTo = rulesVersion.String, bundleKey.String, bundleSHA.String, movedTo.String
	var err error
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&m.InternalDate, internal}, {&m.Date, sent}, {&m.RecordedAt, recorded},
		{&m.JudgedAt, judgedAt}, {&m.StoredAt, storedAt}, {&m.MovedAt, movedAt}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, fmt.Errorf("message %d: %w", m.ID, err)
		}
	}
	if judgment.Valid {
		m.Judgment = new(rules.Judgment)
		if err := json.Unmarshal([]byte(judgment.String), m.Judgment); err != nil {
			return nil, fmt.Errorf("message %d: stored judgment: %w", m.ID, err)
		}
	}
	return &m, nil
}
