package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
)

// AnchorStore is what the audit trail needs of an object store to keep its
// anchors; Dir and MinIO fit it. Put must be write-once (ErrExists for
// different bytes under an existing key, a no-op for the same bytes): an
// anchor that could be replaced would prove nothing.
type AnchorStore interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
}

// AnchorPrefix is where anchors live in the object store.
const AnchorPrefix = "anchors/"

// maxAnchorSize bounds what VerifyAudit reads for one anchor.
const maxAnchorSize = 4096

// AnchorKey returns the object key of the anchor for sequence number seq:
// anchors/<seq>.json, seq zero-padded to 12 digits so keys sort in order.
func AnchorKey(seq int64) string { return fmt.Sprintf("%s%012d.json", AnchorPrefix, seq) }

// Anchor is a copy of the chain head, kept outside the database.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// Time is the time of the entry anchored, not of the anchoring, so that
	// anchoring the same head twice writes the same bytes.
	Time string `json:"time"`
	Key  string `json:"-"`
}

// encode returns the anchor object's bytes: one line of JSON.
func (a Anchor) encode() []byte {
	b, _ := json.Marshal(struct {
		Format string `json:"format"`
		Anchor
	}{"claimtrail-audit-anchor-1", a})
	return append(b, '\n')
}

func decodeAnchor(key string, b []byte) (Anchor, error) {
	var a struct {
		Format string `json:"format"`
		Anchor
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return Anchor{}, fmt.Errorf("anchor %s: %w", key, err)
	}
	if a.Format != "claimtrail-audit-anchor-1" || a.Seq <= 0 || !validSHA256(a.Hash) {
		return Anchor{}, fmt.Errorf("anchor %s: not a claimtrail audit anchor", key)
	}
	if AnchorKey(a.Seq) != key {
		return Anchor{}, fmt.Errorf("anchor %s: names seq %d, which belongs under %s", key, a.Seq, AnchorKey(a.Seq))
	}
	a.Key = key
	return a.Anchor, nil
}

// Anchor writes the current head of the audit trail (its seq and hash) to
// the store under AnchorKey(seq) and records it in the ledger. Once the
// store keeps it write-once (MinIO under object-lock retention), no rewrite
// of the entries up to seq, nor their removal, can pass VerifyAudit.
//
// Anchoring an unchanged head again is a harmless no-op; an empty trail
// returns the zero Anchor. A store that already holds a different anchor
// for the same seq means the chain was rewritten: the error wraps ErrExists.
func (l *Ledger) Anchor(ctx context.Context, store AnchorStore) (Anchor, error) {
	head, err := l.AuditHead(ctx)
	if err != nil {
		return Anchor{}, err
	}
	if head.Seq == 0 {
		return Anchor{}, nil
	}
	a := Anchor{Seq: head.Seq, Hash: head.Hash, Time: head.Time, Key: AnchorKey(head.Seq)}
	data := a.encode()
	sum := sha256.Sum256(data)
	_, err = store.Put(ctx, a.Key, bytes.NewReader(data), int64(len(data)),
		PutOptions{SHA256: hex.EncodeToString(sum[:]), ContentType: "application/json"})
	if errors.Is(err, ErrExists) {
		return Anchor{}, fmt.Errorf("archive: anchor seq %d: the store holds a different anchor for it; "+
			"the audit trail was rewritten or restored from an old copy: run verify-audit: %w", a.Seq, err)
	}
	if err != nil {
		return Anchor{}, fmt.Errorf("archive: anchor seq %d: %w", a.Seq, err)
	}
	err = l.write(ctx, fmt.Sprintf("record anchor %d", a.Seq), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO anchors (seq, hash, key, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (seq) DO NOTHING`, a.Seq, a.Hash, a.Key, fmtTime(l.now()))
		return err
	})
	if err != nil {
		return Anchor{}, err
	}
	return a, nil
}

// Anchors returns the anchors the ledger recorded, by seq.
func (l *Ledger) Anchors(ctx context.Context) ([]Anchor, error) {
	return ledgerAnchors(ctx, l.r)
}

func ledgerAnchors(ctx context.Context, q querier) ([]Anchor, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, hash, key FROM anchors ORDER BY seq`)
	if err != nil {
		return nil, dbErr("list anchors", err)
	}
	defer rows.Close()
	var out []Anchor
	for rows.Next() {
		var a Anchor
		if err := rows.Scan(&a.Seq, &a.Hash, &a.Key); err != nil {
			return nil, dbErr("list anchors", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list anchors", err)
	}
	return out, nil
}

// storeAnchors reads every anchor in the store. Objects under AnchorPrefix
// that are not anchors are returned as problems, not errors: they are
// evidence of something, and the rest can still be checked.
func storeAnchors(ctx context.Context, store AnchorStore) ([]Anchor, []AuditProblem, error) {
	var (
		out      []Anchor
		problems []AuditProblem
	)
	for info, err := range store.List(ctx, AnchorPrefix) {
		if err != nil {
			return nil, nil, fmt.Errorf("archive: list anchors: %w", err)
		}
		seq, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(info.Key, AnchorPrefix), ".json"), 10, 64)
		rc, _, err := store.Get(ctx, info.Key)
		if errors.Is(err, ErrNotFound) {
			continue // listed, then gone: only a store without write-once does that
		}
		if err != nil {
			return nil, nil, fmt.Errorf("archive: get anchor %s: %w", info.Key, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxAnchorSize+1))
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, ErrCorrupt) {
			problems = append(problems, AuditProblem{Seq: seq, Kind: ProblemAnchorUnreadable, Detail: err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("archive: get anchor %s: %w", info.Key, err)
		}
		a, err := decodeAnchor(info.Key, b)
		if err != nil || len(b) > maxAnchorSize {
			if err == nil {
				err = fmt.Errorf("anchor %s: larger than %d bytes", info.Key, maxAnchorSize)
			}
			problems = append(problems, AuditProblem{Seq: seq, Kind: ProblemAnchorUnreadable, Detail: err.Error()})
			continue
		}
		out = append(out, a)
	}
	return out, problems, nil
}
