package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Action names what an audit entry records.
type Action string

// The actions of the audit trail about mail and claims. Their subject is
// "message:<sha256>" or "claim:<id>".
const (
	ActionMessageReceived  Action = "message_received"
	ActionJudged           Action = "judged"
	ActionBundleStored     Action = "bundle_stored"
	ActionEvidenceAttached Action = "evidence_attached"
	ActionClaimCreated     Action = "claim_created"
	ActionClaimUpdated     Action = "claim_updated"
	ActionMoved            Action = "moved"
	ActionBundleDownloaded Action = "bundle_downloaded"
	ActionPackageExported  Action = "package_exported"
	ActionReprocessed      Action = "reprocessed"
	// ActionEvidenceDetached records an analyst taking a message off a
	// claim by hand; its subject is the claim.
	ActionEvidenceDetached Action = "evidence_detached"
)

// The audit actions of user management. Their subject is "user:<name>".
const (
	ActionUserAdded       Action = "user_added"
	ActionUserRemoved     Action = "user_removed"
	ActionPasswordChanged Action = "password_changed"
	ActionRoleChanged     Action = "role_changed"
	ActionTokenCreated    Action = "api_token_created"
	ActionTokenRevoked    Action = "api_token_revoked"
)

// ActionTenantsImported records an import of Partner Center's customer
// list, with the user as actor; its subject is "tenants".
const ActionTenantsImported Action = "tenants_imported"

// ActionRegistryChanged records a change of the tenant registry, written
// with the change: its subject is "registry", its actor ActorSystem, and
// its details the new "registry_version", the "previous_version", the
// "change" (what wrote it: "upsert tenants" for the configuration, "import
// <file>" for a Partner Center list), the IDs of the "tenants" that changed
// and the "tenant_count" after it. A write that changes nothing has none.
const ActionRegistryChanged Action = "registry_changed"

// ActionIncidentFactsRecorded records a new reading of Microsoft's record
// of an incident (RecordIncidentFacts); its subject is
// "incident:<incident ID>", its details the "tenant_id" ("" for catalog
// facts), "source", "read_at", "classification", "start", "end", "listed"
// (Graph's answer, null when the source cannot say), "facts_sha256",
// "snapshot_key" and, with a post-incident report, "report_key".
const ActionIncidentFactsRecorded Action = "incident_facts_recorded"

// actions lists every action, in the order Actions returns them. AppendAudit
// accepts only these: a typo must not start a new kind of entry.
var actions = []Action{
	ActionMessageReceived, ActionJudged, ActionBundleStored, ActionEvidenceAttached,
	ActionClaimCreated, ActionClaimUpdated, ActionMoved, ActionBundleDownloaded,
	ActionPackageExported, ActionReprocessed, ActionEvidenceDetached,
	ActionUserAdded, ActionUserRemoved, ActionPasswordChanged, ActionRoleChanged,
	ActionTokenCreated, ActionTokenRevoked, ActionTenantsImported, ActionRegistryChanged,
	ActionIncidentFactsRecorded, ActionReminderSent, ActionReminderFailed,
	ActionLeaseTakenOver, ActionLedgerCopied,
}

var knownActions = func() map[Action]bool {
	m := make(map[Action]bool, len(actions))
	for _, a := range actions {
		m[a] = true
	}
	return m
}()

// Actions returns every action the audit trail records: those about mail
// and claims in the order of the work on a message, then user management,
// tenant imports, registry changes, incident facts, reminders, lease
// takeovers and ledger copies. The caller may modify the slice.
func Actions() []Action { return slices.Clone(actions) }

// ActorSystem is the actor of everything claimtrail does on its own; other
// actors are user names.
const ActorSystem = "system"

// genesisHash is the prev_hash of the first entry.
var genesisHash = strings.Repeat("0", 64)

// AuditEntry is one entry of the hash-chained audit trail.
//
// Hash is the hex SHA-256 of this encoding of the entry: the 20 bytes
// "claimtrail-audit-v1\n", then for each field in the order Seq, Time,
// Actor, Action, Subject, Details, PrevHash, the field's length in bytes as
// a big-endian uint64 followed by its UTF-8 bytes, where
//
//   - Seq is written in decimal ASCII without leading zeros (1, 2, ...);
//   - Time is the stored text: RFC 3339 in UTC with exactly nine
//     fractional digits and "Z" (2026-02-15T09:30:00.000000000Z);
//   - Details is the stored JSON text (a JSON object, written compact with
//     keys sorted, but hashed as stored, byte for byte);
//   - PrevHash is the previous entry's Hash in lower-case hex, or 64 "0"
//     for the first entry.
//
// Length prefixes make the encoding unambiguous: no shift of bytes between
// fields yields the same input.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	Time     string          `json:"time"`
	Actor    string          `json:"actor"`
	Action   Action          `json:"action"`
	Subject  string          `json:"subject"` // "message:<sha256>", "claim:<id>", "anchor:<seq>"
	Details  json.RawMessage `json:"details"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

const auditHashDomain = "claimtrail-audit-v1\n"

// ComputeHash returns the hash the entry should carry, computed from its
// other fields as AuditEntry describes.
func (e *AuditEntry) ComputeHash() string {
	h := sha256.New()
	h.Write([]byte(auditHashDomain))
	var n [8]byte
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), e.Time, e.Actor, string(e.Action), e.Subject, string(e.Details), e.PrevHash} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalDetails encodes details as compact JSON with sorted keys (the
// order encoding/json gives maps) and without HTML escaping.
func canonicalDetails(details map[string]any) ([]byte, error) {
	if details == nil {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(details); err != nil {
		return nil, fmt.Errorf("audit details: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendAudit appends one entry inside tx, the transaction of the change it
// describes, so that the change and its record commit together. An entry
// about a message ("message:<sha256>") is linked to the message's row
// (audit_messages), which must exist; appendMessageAudit skips looking it
// up.
func (l *Ledger) appendAudit(ctx context.Context, tx dbtx, now time.Time, actor string, action Action, subject string, details map[string]any) (AuditEntry, error) {
	sha, isMessage := strings.CutPrefix(subject, messageSubjectPrefix)
	if !isMessage {
		return l.appendAuditEntry(ctx, tx, now, actor, action, subject, details)
	}
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM messages WHERE sha256 = ?`, sha).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditEntry{}, fmt.Errorf("an audit entry about message %s, which the ledger does not hold: %w", sha, ErrNotFound)
	} else if err != nil {
		return AuditEntry{}, err
	}
	return l.appendMessageAudit(ctx, tx, now, actor, action, id, sha, details)
}

// appendMessageAudit is appendAudit for the message of row id and hash
// sha.
func (l *Ledger) appendMessageAudit(ctx context.Context, tx dbtx, now time.Time, actor string, action Action, id int64, sha string, details map[string]any) (AuditEntry, error) {
	e, err := l.appendAuditEntry(ctx, tx, now, actor, action, messageSubject(sha), details)
	if err != nil {
		return AuditEntry{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_messages (message_id, seq) VALUES (?, ?)`, id, e.Seq); err != nil {
		return AuditEntry{}, err
	}
	return e, nil
}

// appendAuditEntry writes the entry and nothing else.
func (l *Ledger) appendAuditEntry(ctx context.Context, tx dbtx, now time.Time, actor string, action Action, subject string, details map[string]any) (AuditEntry, error) {
	d, err := canonicalDetails(details)
	if err != nil {
		return AuditEntry{}, err
	}
	e := AuditEntry{Time: fmtTime(now), Actor: actor, Action: action, Subject: subject, Details: d}
	if h := l.head; h.known {
		e.Seq, e.PrevHash = h.seq, h.hash
	} else {
		err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&e.Seq, &e.PrevHash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			e.Seq, e.PrevHash = 0, genesisHash
		case err != nil:
			return AuditEntry{}, err
		}
	}
	e.Seq++
	e.Hash = e.ComputeHash()
	l.head = auditHead{}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (seq, time, actor, action, subject, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.Time, e.Actor, string(e.Action), e.Subject, string(e.Details), e.PrevHash, e.Hash); err != nil {
		return AuditEntry{}, err
	}
	l.head = auditHead{seq: e.Seq, hash: e.Hash, known: true}
	return e, nil
}

// auditHead is the last entry of the trail as the write transaction in
// progress sees it, so that an entry after the first in a transaction need
// not read it: with the group commit's transactions of up to 32 writes,
// most do not. Only the goroutine running the transaction touches it; it
// is forgotten when a transaction begins (another process may have written
// in between) and restored when a write's savepoint is undone.
type auditHead struct {
	seq   int64
	hash  string
	known bool
}

func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return errors.New("an actor (user name) is required")
	}
	return nil
}

// AppendAudit appends an entry for an action that changed nothing in the
// ledger, such as a bundle download from the web app. Actions that change
// the ledger are recorded by the method that makes the change.
func (l *Ledger) AppendAudit(ctx context.Context, actor string, action Action, subject string, details map[string]any) (AuditEntry, error) {
	op := fmt.Sprintf("append audit %s %s", action, subject)
	if err := checkActor(actor); err != nil {
		return AuditEntry{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	if !knownActions[action] {
		return AuditEntry{}, fmt.Errorf("archive: %s: unknown action %q", op, action)
	}
	var e AuditEntry
	err := l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		var err error
		e, err = l.appendAudit(ctx, tx, l.now(), actor, action, subject, details)
		return err
	})
	return e, err
}

// AuditHead returns the last entry of the trail; the zero entry when the
// trail is empty.
func (l *Ledger) AuditHead(ctx context.Context) (AuditEntry, error) {
	var e AuditEntry
	err := scanAudit(l.r.QueryRowContext(ctx, auditSelect+` ORDER BY seq DESC LIMIT 1`), &e)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditEntry{}, nil
	}
	if err != nil {
		return AuditEntry{}, dbErr("audit head", err)
	}
	return e, nil
}

const auditSelect = `SELECT seq, time, actor, action, subject, details, prev_hash, hash FROM audit`

type scanner interface{ Scan(dest ...any) error }

func scanAudit(s scanner, e *AuditEntry) error {
	var details, action string
	if err := s.Scan(&e.Seq, &e.Time, &e.Actor, &action, &e.Subject, &details, &e.PrevHash, &e.Hash); err != nil {
		return err
	}
	e.Action, e.Details = Action(action), json.RawMessage(details)
	return nil
}
