package archivetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// BigLedgerSpec says how big a ledger BuildBigLedger makes. Zero fields
// take the defaults of a partner's few years of mail: Claims is 2 % of
// Messages, at most 21,000 and at least 1; Tenants is 300.
type BigLedgerSpec struct {
	Messages int
	Claims   int
	Tenants  int
	// Now is the generator's clock, which the seed's mail dates count back
	// from (three years); zero means time.Now.
	Now time.Time
}

func (s BigLedgerSpec) withDefaults() BigLedgerSpec {
	if s.Claims == 0 {
		s.Claims = min(max(s.Messages/50, 1), 21000)
	}
	if s.Tenants == 0 {
		s.Tenants = 300
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	return s
}

// Stats is what BuildBigLedger made and how long it took.
type Stats struct {
	Messages, Claims, Tenants, Evidence, AuditEntries int64
	// Seeded is how many messages went through the ledger's own write
	// path (RecordStoredMessage, MarkMoved); the rest were cloned in SQL.
	Seeded   int
	SeedTime time.Duration
	BulkTime time.Duration
}

// Every message of a big ledger arrives in this mailbox; BigLedgerAdmin is
// its admin user, who has done nothing else.
const (
	bigMailbox     = "claims@partner.example"
	BigLedgerAdmin = "admin"
)

// BigTenantID returns the GUID of the generator's tenant i.
func BigTenantID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1) }

func bigIncident(c int) string { return fmt.Sprintf("EX%07d", 1000000+c) }

func bigSHA(kind string, i int) string {
	s := sha256.Sum256([]byte("claimtrail bigledger " + kind + " " + strconv.Itoa(i)))
	return hex.EncodeToString(s[:])
}

const bigTimeLayout = "2006-01-02T15:04:05.000000000Z" // the ledger's stored time

func bigTime(t time.Time) string { return t.UTC().Format(bigTimeLayout) }

// BuildBigLedger makes a ledger at path (which must not exist) of
// spec.Messages messages, with about five audit entries each, spec.Claims
// claims over spec.Tenants tenants, and an admin user.
//
// It opens the ledger with archive.OpenLedger (so the real migrations
// run), registers the tenants, then records one accepted message per
// claim, one rejected and one unmatched through the ledger's own write
// path: claims, evidence, deadlines and audit entries are what the app
// writes. The other messages are clones of those, written in bulk SQL:
// 60 % accepted (a clone of a claim's message, attached to it and dated
// after it, so the claim's evidence summary and deadline stand), 20 %
// rejected, 20 % unmatched, each with the audit entries of its
// reception, bundle, judgment, evidence and move, hashed with
// archive.AuditEntry.ComputeHash onto the chain. Ledger.VerifyAudit passes
// on the result.
func BuildBigLedger(ctx context.Context, path string, spec BigLedgerSpec) (Stats, error) {
	spec = spec.withDefaults()
	if spec.Messages < spec.Claims+2 {
		return Stats{}, fmt.Errorf("archivetest: big ledger: %d messages cannot carry %d claims; ask for at least %d", spec.Messages, spec.Claims, spec.Claims+2)
	}
	st := Stats{}
	start := time.Now()
	if err := seedBigLedger(ctx, path, spec); err != nil {
		return Stats{}, fmt.Errorf("archivetest: big ledger %s: seed: %w", path, err)
	}
	st.Seeded = spec.Claims + 2
	st.SeedTime = time.Since(start)
	start = time.Now()
	if err := cloneBigLedger(ctx, path, spec); err != nil {
		return Stats{}, fmt.Errorf("archivetest: big ledger %s: clone: %w", path, err)
	}
	st.BulkTime = time.Since(start)
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return Stats{}, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM claims),
		(SELECT COUNT(*) FROM tenants), (SELECT COUNT(*) FROM claim_evidence), (SELECT MAX(seq) FROM audit)`).
		Scan(&st.Messages, &st.Claims, &st.Tenants, &st.Evidence, &st.AuditEntries)
	if err != nil {
		return Stats{}, fmt.Errorf("archivetest: big ledger %s: count: %w", path, err)
	}
	return st, nil
}

// bigSeed is a message recorded through the ledger that clones copy.
type bigSeed struct {
	claimID      int64 // 0 for rejected and unmatched mail
	tenant       string
	incident     string
	date         time.Time // its evidence date; clones of a claim's come later
	verdict      string
	reason       sql.NullString
	tenantCol    sql.NullString
	incidents    string
	judgment     string
	rulesVersion string
	judged       string // its judged audit entry's details
}

func seedBigLedger(ctx context.Context, path string, spec BigLedgerSpec) (err error) {
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: path})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	tenants := make([]rules.Tenant, spec.Tenants)
	for i := range tenants {
		tenants[i] = rules.Tenant{ID: BigTenantID(i), Name: fmt.Sprintf("Customer %d", i+1),
			Domains: []string{fmt.Sprintf("customer%d.example", i+1)}, CSP: true}
	}
	if _, err := l.UpsertTenants(ctx, tenants); err != nil {
		return err
	}
	hash, err := archive.HashPassword("big ledger admin")
	if err != nil {
		return err
	}
	if _, err := l.AddUser(ctx, BigLedgerAdmin, archive.RoleAdmin, hash, archive.ActorSystem); err != nil {
		return err
	}
	// Claims' first mail spreads over three years, oldest first.
	span := 3 * 365 * 24 * time.Hour
	base := spec.Now.Add(-span).Truncate(time.Second)
	step := span / time.Duration(spec.Claims+2)
	record := func(i int, from, subject string, j rules.Judgment) error {
		date := base.Add(time.Duration(i) * step)
		rec := archive.MessageRecord{SHA256: bigSHA("seed", i), Size: 4096 + int64(i%4096), Mailbox: bigMailbox,
			Folder: "INBOX", UIDValidity: 1, UID: uint32(i + 1), InternalDate: date, Date: date,
			MessageID: fmt.Sprintf("seed%d@bigledger.example", i), Sender: from, Subject: subject}
		m, _, err := l.RecordStoredMessage(ctx, rec, j, rules.Version,
			archive.StoredBundle{Key: "bundles/" + rec.SHA256 + ".zip", SHA256: bigSHA("bundle seed", i)})
		if err != nil {
			return err
		}
		return l.MarkMoved(ctx, m.ID, "Processed")
	}
	for c := range spec.Claims {
		t := c % spec.Tenants
		inc := bigIncident(c)
		j := rules.Judgment{Verdict: rules.Accepted, TenantID: BigTenantID(t), IncidentIDs: []string{inc}, Authentication: rules.AuthPass}
		if err := record(c, fmt.Sprintf("ops@customer%d.example", t+1), "Outage "+inc, j); err != nil {
			return err
		}
	}
	if err := record(spec.Claims, "someone@gmail.com", "Help",
		rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress, Authentication: rules.AuthPass}); err != nil {
		return err
	}
	if err := record(spec.Claims+1, "ops@customer1.example", "Slow again",
		rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: BigTenantID(0), Authentication: rules.AuthPass}); err != nil {
		return err
	}
	return nil
}

// loadSeeds reads the seed messages back as clone templates: the accepted
// ones in claim order, then one rejected and one unmatched.
func loadSeeds(ctx context.Context, tx *sql.Tx) ([]bigSeed, error) {
	rows, err := tx.QueryContext(ctx, `SELECT COALESCE(e.claim_id, 0), COALESCE(c.tenant_id, ''), COALESCE(c.incident_id, ''),
		m.evidence_date, m.verdict, m.reason, m.tenant_id, m.incident_ids, m.judgment, m.rules_version,
		(SELECT a.details FROM audit_messages am JOIN audit a ON a.seq = am.seq WHERE am.message_id = m.id AND a.action = 'judged')
		FROM messages m LEFT JOIN claim_evidence e ON e.message_id = m.id LEFT JOIN claims c ON c.id = e.claim_id
		ORDER BY m.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var seeds []bigSeed
	for rows.Next() {
		var s bigSeed
		var date string
		if err := rows.Scan(&s.claimID, &s.tenant, &s.incident, &date, &s.verdict, &s.reason, &s.tenantCol,
			&s.incidents, &s.judgment, &s.rulesVersion, &s.judged); err != nil {
			return nil, err
		}
		if s.date, err = time.Parse(bigTimeLayout, date); err != nil {
			return nil, err
		}
		seeds = append(seeds, s)
	}
	return seeds, rows.Err()
}

// cloneChunk is how many messages one transaction clones.
const cloneChunk = 50000

func cloneBigLedger(ctx context.Context, path string, spec BigLedgerSpec) (err error) {
	// Nothing else has the file open: no WAL, no syncs, a big cache. A
	// failed build is thrown away, not recovered.
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(MEMORY)&_pragma=synchronous(OFF)&_pragma=cache_size(-524288)"+
		"&_pragma=temp_store(MEMORY)&_pragma=foreign_keys(0)&_txlock=immediate")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	defer func() {
		if err == nil {
			_, err = db.ExecContext(ctx, `PRAGMA journal_mode=WAL`)
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	var seeds []bigSeed
	var head archive.AuditEntry
	var nextID int64
	{
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		seeds, err = loadSeeds(ctx, tx)
		if err == nil {
			err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&head.Seq, &head.Hash)
		}
		if err == nil {
			err = tx.QueryRowContext(ctx, `SELECT MAX(id) FROM messages`).Scan(&nextID)
		}
		if rerr := tx.Rollback(); err == nil {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("read seeds: %w", err)
		}
	}
	var accepted []bigSeed
	var rejected, unmatched bigSeed
	for _, s := range seeds {
		switch s.verdict {
		case string(rules.Accepted):
			accepted = append(accepted, s)
		case string(rules.Rejected):
			rejected = s
		case string(rules.Unmatched):
			unmatched = s
		}
	}
	if len(accepted) != spec.Claims || rejected.verdict == "" || unmatched.verdict == "" {
		return fmt.Errorf("seeds: %d accepted (want %d), rejected %t, unmatched %t", len(accepted), spec.Claims, rejected.verdict != "", unmatched.verdict != "")
	}

	seeded := len(seeds)
	clones := spec.Messages - seeded
	now := time.Now().UTC()
	for done := 0; done < clones; done += cloneChunk {
		n := min(cloneChunk, clones-done)
		if err := cloneChunkTx(ctx, db, seeded, done, n, accepted, rejected, unmatched, now, &head, &nextID); err != nil {
			return err
		}
	}
	_, err = db.ExecContext(ctx, `PRAGMA optimize`)
	return err
}

func cloneChunkTx(ctx context.Context, db *sql.DB, seeded, from, n int, accepted []bigSeed, rejected, unmatched bigSeed,
	now time.Time, head *archive.AuditEntry, nextID *int64) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			return
		}
		err = tx.Commit()
	}()
	insMsg, err := tx.PrepareContext(ctx, `INSERT INTO messages
		(id, sha256, size, mailbox, folder, uidvalidity, uid, internal_date, sent_date, recorded_at, evidence_date, message_id, sender, subject,
		verdict, reason, tenant_id, incident_ids, judgment, rules_version, judged_at, bundle_key, bundle_sha256, stored_at, moved_to, moved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insMsg.Close()
	insAudit, err := tx.PrepareContext(ctx, `INSERT INTO audit (seq, time, actor, action, subject, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insAudit.Close()
	insEv, err := tx.PrepareContext(ctx, `INSERT INTO claim_evidence (claim_id, message_id, attached_at, late) VALUES (?, ?, ?, 0)`)
	if err != nil {
		return err
	}
	defer insEv.Close()
	insLink, err := tx.PrepareContext(ctx, `INSERT INTO audit_messages (message_id, seq) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer insLink.Close()

	// audit appends an entry; one about a message (msg > 0) is linked to
	// it, as the ledger does.
	audit := func(at, action, subject, details string, msg int64) error {
		e := archive.AuditEntry{Seq: head.Seq + 1, Time: at, Actor: archive.ActorSystem, Action: archive.Action(action),
			Subject: subject, Details: []byte(details), PrevHash: head.Hash}
		e.Hash = e.ComputeHash()
		if _, err := insAudit.ExecContext(ctx, e.Seq, e.Time, e.Actor, action, e.Subject, details, e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("audit %d: %w", e.Seq, err)
		}
		if msg > 0 {
			if _, err := insLink.ExecContext(ctx, msg, e.Seq); err != nil {
				return fmt.Errorf("audit %d of message %d: %w", e.Seq, msg, err)
			}
		}
		*head = e
		return nil
	}
	for k := range n {
		i := from + k // the clone's number
		var s bigSeed
		var date time.Time
		var sender, subject string
		switch i % 5 {
		case 0, 1, 2:
			s = accepted[(i/5*3+i%5)%len(accepted)]
			// After the claim's first mail: its summary stands.
			date = s.date.Add(time.Hour + time.Duration(i%100000)*time.Minute)
			t, _ := strconv.ParseInt(s.tenant[:8], 16, 64)
			sender, subject = fmt.Sprintf("ops@customer%d.example", t), "Re: Outage "+s.incident
		case 3:
			s, sender, subject = rejected, fmt.Sprintf("user%d@gmail.com", i), "Help"
			date = now.Add(-time.Duration(i%(3*365*24)) * time.Hour)
		default:
			s, sender, subject = unmatched, "ops@customer1.example", "Slow again"
			date = now.Add(-time.Duration(i%(3*365*24)) * time.Hour)
		}
		*nextID++
		id := *nextID
		sha := bigSHA("clone", i)
		bsha := bigSHA("bundle clone", i)
		uid := seeded + i + 1
		size := 4096 + i%4096
		at := bigTime(now.Add(time.Duration(i) * time.Microsecond))
		d := bigTime(date)
		msgID := fmt.Sprintf("clone%d@bigledger.example", i)
		key := "bundles/" + sha + ".zip"
		if _, err := insMsg.ExecContext(ctx, id, sha, size, bigMailbox, "INBOX", 1, uid, d, d, at, d, msgID, sender, subject,
			s.verdict, s.reason, s.tenantCol, s.incidents, s.judgment, s.rulesVersion, at, key, bsha, at, "Processed", at); err != nil {
			return fmt.Errorf("message %d: %w", id, err)
		}
		msgSubject := "message:" + sha
		// Details as canonicalDetails writes them: compact, keys sorted;
		// every value here is plain ASCII.
		if err := audit(at, string(archive.ActionMessageReceived), msgSubject, fmt.Sprintf(
			`{"folder":"INBOX","mailbox":%q,"message_id":%q,"sender":%q,"sha256":%q,"size":%d,"subject":%q,"uid":%d,"uidvalidity":1}`,
			bigMailbox, msgID, sender, sha, size, subject, uid), id); err != nil {
			return err
		}
		if err := audit(at, string(archive.ActionBundleStored), msgSubject,
			fmt.Sprintf(`{"bundle_sha256":%q,"key":%q}`, bsha, key), id); err != nil {
			return err
		}
		if err := audit(at, string(archive.ActionJudged), msgSubject, s.judged, id); err != nil {
			return err
		}
		if s.claimID != 0 {
			if _, err := insEv.ExecContext(ctx, s.claimID, id, at); err != nil {
				return fmt.Errorf("evidence %d of claim %d: %w", id, s.claimID, err)
			}
			if err := audit(at, string(archive.ActionEvidenceAttached), "claim:"+strconv.FormatInt(s.claimID, 10),
				fmt.Sprintf(`{"incident_id":%q,"message":%q,"tenant_id":%q}`, s.incident, sha, s.tenant), 0); err != nil {
				return err
			}
		}
		if err := audit(at, string(archive.ActionMoved), msgSubject, fmt.Sprintf(
			`{"from":"INBOX","mailbox":%q,"to":"Processed","uid":%d,"uidvalidity":1}`, bigMailbox, uid), id); err != nil {
			return err
		}
	}
	return nil
}

// BigOutage is the incident AddBigOutage opens claims on: an ID above
// every one the generator gives its claims.
const BigOutage = "EX2000000"

// AddBigOutage opens a claim of every one of a big ledger's tenants
// tenants (BigTenantID 0 to tenants-1) on BigOutage, each with one
// accepted message recorded through the ledger's own write path, as a big
// outage does: the incident page's worst case. It does nothing when the
// claims are there already, so a kept ledger takes it once.
func AddBigOutage(ctx context.Context, l *archive.Ledger, tenants int, now time.Time) error {
	if s, err := l.Incident(ctx, BigOutage, now); err == nil && s.Claims >= tenants {
		return nil
	}
	date := now.Add(-48 * time.Hour).Truncate(time.Second)
	for t := range tenants {
		rec := archive.MessageRecord{SHA256: bigSHA("outage", t), Size: 4096, Mailbox: bigMailbox,
			Folder: "INBOX", UIDValidity: 2, UID: uint32(t + 1), InternalDate: date.Add(time.Duration(t) * time.Second),
			Date: date, MessageID: fmt.Sprintf("outage%d@bigledger.example", t), Sender: fmt.Sprintf("ops@customer%d.example", t+1),
			Subject: "Outage " + BigOutage}
		j := rules.Judgment{Verdict: rules.Accepted, TenantID: BigTenantID(t), IncidentIDs: []string{BigOutage}, Authentication: rules.AuthPass}
		if _, _, err := l.RecordStoredMessage(ctx, rec, j, rules.Version,
			archive.StoredBundle{Key: "bundles/" + rec.SHA256 + ".zip", SHA256: bigSHA("bundle outage", t)}); err != nil {
			return fmt.Errorf("archivetest: big outage, tenant %d: %w", t, err)
		}
	}
	return nil
}
