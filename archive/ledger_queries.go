package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/claimtrail/claimtrail/rules"
)

// MessageFilter selects messages for Messages. The zero value selects every
// message, judged or not.
type MessageFilter struct {
	// Verdicts keeps the messages whose current judgment has one of these
	// verdicts; empty keeps all, including those not judged yet.
	Verdicts []rules.Verdict
	// Reasons keeps the messages whose current judgment has one of these
	// reasons; empty keeps all.
	Reasons []rules.Reason
	// RegistryBefore, when above 0, keeps the messages judged under a
	// tenant registry older than this version (rules.Judgment's
	// RegistryVersion; 0 when it was not recorded).
	RegistryBefore int64
	// Before keeps the messages with a smaller ID: pass the ID of the last
	// message of the previous page. 0 starts from the newest.
	Before int64
	// Limit is the most messages returned; 0 or less returns every match.
	Limit int
}

// Messages returns the messages f selects, newest (most recently
// recorded) first. Their judgments are the current ones: a reprocessed
// message is found by its new verdict only.
//
// With verdicts, each verdict's messages are read newest first from the
// messages_verdict index, at most Limit of each, and merged: a page costs
// what it returns, however many messages the ledger holds.
func (l *Ledger) Messages(ctx context.Context, f MessageFilter) ([]*Message, error) {
	const op = "list messages"
	var verdicts []rules.Verdict
	for _, v := range f.Verdicts {
		if v != rules.Accepted && v != rules.Rejected && v != rules.Unmatched {
			return nil, fmt.Errorf("archive: %s: unknown verdict %q; use accepted, rejected or unmatched", op, v)
		}
		if !slices.Contains(verdicts, v) {
			verdicts = append(verdicts, v)
		}
	}
	var where []string
	var args []any
	if len(f.Reasons) > 0 {
		for _, r := range f.Reasons {
			args = append(args, string(r))
		}
		where = append(where, `m.reason IN (?`+strings.Repeat(", ?", len(f.Reasons)-1)+`)`)
	}
	if f.RegistryBefore > 0 {
		where = append(where, `COALESCE(json_extract(m.judgment, '$.registry_version'), 0) < ?`)
		args = append(args, f.RegistryBefore)
	}
	if f.Before > 0 {
		where = append(where, `m.id < ?`)
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = math.MaxInt64 // no limit
	}
	if len(verdicts) == 0 {
		return l.queryMessages(ctx, op, where, args, limit)
	}
	var out []*Message
	for _, v := range verdicts {
		msgs, err := l.queryMessages(ctx, op, append([]string{`m.verdict = ?`}, where...), append([]any{string(v)}, args...), limit)
		if err != nil {
			return nil, err
		}
		out = mergeByID(out, msgs, true)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// queryMessages runs messageSelect with the conditions where, newest first.
func (l *Ledger) queryMessages(ctx context.Context, op string, where []string, args []any, limit int) ([]*Message, error) {
	q := messageSelect
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY m.id DESC LIMIT ?`
	return l.readMessages(ctx, op, q, append(args, limit)...)
}

// readMessages runs q, a messageSelect, and reads every message it returns.
func (l *Ledger) readMessages(ctx context.Context, op, q string, args ...any) ([]*Message, error) {
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// rematchQuery reads the candidates of RematchCandidates: the messages
// whose reversed sender domain (messages.sender_domain_rev, kept by the
// triggers of migration 0007 for the rejections a registry change can
// undo) lies in the range of one of the registry's domains.
const rematchQuery = messageSelect + ` WHERE m.id IN (
		SELECT c.id FROM json_each(?) d JOIN messages c
			ON c.sender_domain_rev >= d.value AND c.sender_domain_rev < substr(d.value, 1, length(d.value) - 1) || '/')
	AND m.verdict = 'rejected' AND m.reason IN ('unknown_domain', 'tenant_mismatch')
	AND COALESCE(CAST(json_extract(m.judgment, '$.registry_version') AS INTEGER), 0) < ?
	ORDER BY m.id DESC`

// reverseDomain is a domain as messages.sender_domain_rev holds it: its
// labels in reverse order, each followed by a dot ("it.contoso.com" is
// "com.contoso.it."). A domain's subdomains then begin with its reversal:
// the range [reverseDomain(d), reverseDomain(d) with the last dot made "/")
// holds d and all of them, and nothing else ("evilcontoso.com" is not in
// the range of "contoso.com").
func reverseDomain(d string) string {
	labels := strings.Split(strings.ToLower(d), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + "."
}

// RematchCandidates returns the rejected messages that a change of the
// tenant registry may have made acceptable: rejected as unknown_domain or
// tenant_mismatch under a registry older than version registryBefore, and
// sent from one of domains (the registry's domains now) or a subdomain of
// one. Newest first.
// It looks each domain up in an index, so it costs what it returns; the
// caller decides, with the rules, which of them the registry now matches.
func (l *Ledger) RematchCandidates(ctx context.Context, domains []string, registryBefore int64) ([]*Message, error) {
	const op = "list re-match candidates"
	if len(domains) == 0 {
		return nil, nil
	}
	revs := make([]string, len(domains))
	for i, d := range domains {
		revs[i] = reverseDomain(d)
	}
	list, err := json.Marshal(revs)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.readMessages(ctx, op, rematchQuery, string(list), registryBefore)
}

// MessageCounts returns how many messages have each verdict now. Messages
// not judged yet are not counted; a verdict no message has is absent. The
// counts are kept by the ledger's triggers as verdicts change, so reading
// them costs nothing however many messages there are.
func (l *Ledger) MessageCounts(ctx context.Context) (map[rules.Verdict]int, error) {
	const op = "count messages"
	rows, err := l.r.QueryContext(ctx, `SELECT verdict, n FROM message_counts WHERE n > 0`)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := map[rules.Verdict]int{}
	for rows.Next() {
		var v string
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			return nil, dbErr(op, err)
		}
		out[rules.Verdict(v)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// AuditFilter selects audit entries for AuditEntries. Every condition set
// must hold; the zero value selects the whole trail. Each condition is
// served by an index (see migrations 0001 and 0008), so that a page of the
// newest matches reads little more than that page.
type AuditFilter struct {
	// Actions keeps the entries with one of these actions; empty keeps all.
	// An action no entry has matches nothing.
	Actions []Action
	// Actor keeps the entries of this actor, compared without regard to
	// ASCII case ("Anna" finds "anna").
	Actor string
	// Subject keeps the entries about exactly this subject ("claim:3",
	// "message:<sha256>"): "claim:3" does not find "claim:31".
	Subject string
	// SubjectPrefix keeps the entries whose subject starts with this text,
	// case-sensitively: "message:ab12" for a partial hash. It is a range
	// of the subject index, so every matching entry is read before the
	// newest are returned: give enough of a hash to select few.
	SubjectPrefix string
	// Claim, when above 0, keeps the entries about that claim and about
	// every message that is or was its evidence (the subjects ExportAudit
	// writes for it). A missing claim is an error wrapping ErrNotFound.
	Claim int64
	// Before keeps the entries with a smaller seq: pass the seq of the last
	// entry of the previous page. 0 starts from the head.
	Before int64
	// Limit is the most entries returned; 0 or less returns every match.
	Limit int
}

// AuditEntries returns the entries f selects, newest (highest seq) first.
// It reads the entries as stored and checks nothing: VerifyAudit does.
func (l *Ledger) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	const op = "list audit entries"
	q, args, err := l.auditQuery(ctx, f, true)
	if err != nil {
		return nil, dbErr(op, err)
	}
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := scanAudit(rows, &e); err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}

// auditQuery returns the query of AuditEntries for f, newest first when
// desc, else in seq order.
func (l *Ledger) auditQuery(ctx context.Context, f AuditFilter, desc bool) (string, []any, error) {
	var where []string
	var args []any
	// SQLite walks one index, and without statistics it cannot tell which
	// is the most selective: choose here, and keep the others off with a
	// unary + (which makes a column unusable for an index). A subject
	// selects few entries; the system's entries are most of the trail, so
	// with the actor "system" the action's index is the narrower, and with
	// a user's name the actor's.
	bySubject := f.Subject != "" || f.SubjectPrefix != "" || f.Claim > 0
	actionCol, actorCol := "action", "actor"
	switch {
	case bySubject:
		actionCol, actorCol = l.eng.noIndex+"action", l.eng.noIndex+"actor"
	case len(f.Actions) > 0 && f.Actor != "" && strings.EqualFold(f.Actor, ActorSystem):
		actorCol = l.eng.noIndex + "actor"
	case len(f.Actions) > 0 && f.Actor != "":
		actionCol = l.eng.noIndex + "action"
	}
	if len(f.Actions) > 0 {
		where = append(where, actionCol+` IN (?`+strings.Repeat(", ?", len(f.Actions)-1)+`)`)
		for _, a := range f.Actions {
			args = append(args, string(a))
		}
	}
	if f.Actor != "" {
		where = append(where, actorCol+` = ? COLLATE NOCASE`)
		args = append(args, f.Actor)
	}
	if f.Subject != "" {
		if sha, ok := strings.CutPrefix(f.Subject, messageSubjectPrefix); ok {
			where = append(where, `seq IN (`+messageSeqs+` WHERE m.sha256 = ?)`)
			args = append(args, sha)
		} else {
			where = append(where, `subject = ? AND `+otherSubjects)
			args = append(args, f.Subject)
		}
	}
	if p := f.SubjectPrefix; p != "" {
		lo, isMessage := strings.CutPrefix(p, messageSubjectPrefix)
		col, cond := "subject", ` AND `+otherSubjects
		switch {
		case isMessage:
			col, cond = "m.sha256", ""
		case strings.HasPrefix(messageSubjectPrefix, p):
			return "", nil, fmt.Errorf("the subject prefix %q takes in every message's entries: "+
				"give %q and the start of a message's hash", p, messageSubjectPrefix)
		default:
			lo = p
		}
		w := col + ` >= ?` + cond
		args = append(args, lo)
		if hi, ok := prefixEnd(lo); ok {
			w = col + ` >= ? AND ` + col + ` < ?` + cond
			args = append(args, hi)
		}
		if isMessage {
			w = `seq IN (` + messageSeqs + ` WHERE ` + w + `)`
		}
		where = append(where, w)
	}
	if f.Claim > 0 {
		ids, err := l.claimMessages(ctx, f.Claim)
		if err != nil {
			return "", nil, err
		}
		b, err := json.Marshal(ids)
		if err != nil {
			return "", nil, err
		}
		// One look-up of audit_subject for the claim, and one of
		// audit_messages per message; a claim's entries are few, and
		// sorting them is cheap.
		where = append(where, `seq IN (SELECT seq FROM audit WHERE subject = ? AND `+otherSubjects+`
			UNION ALL SELECT seq FROM audit_messages WHERE message_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)))`)
		args = append(args, claimSubject(f.Claim), string(b))
	}
	if f.Before > 0 {
		where = append(where, `seq < ?`)
		args = append(args, f.Before)
	}
	q := auditSelect
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if !desc {
		q += ` ORDER BY seq`
		if f.Limit > 0 {
			q += ` LIMIT ?`
			args = append(args, f.Limit)
		}
		return q, args, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = math.MaxInt64
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	return q, args, nil
}

// prefixEnd returns the least string above every string starting with
// prefix, in SQLite's byte order, and false when there is none (a prefix
// of 0xff bytes only).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
