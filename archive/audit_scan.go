package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
)

// The stored fields of an entry, in the order of the hash encoding after
// Seq (see AuditEntry).
const (
	fTime = iota
	fActor
	fAction
	fSubject
	fDetails
	fPrev
	fHash
	nFields
)

// chainBatch is a run of consecutive entries as the verification scans
// them: the fields' bytes back to back in buf, without a string or an
// allocation per field.
type chainBatch struct {
	buf  []byte
	ents []rawEntry
	err  error
}

type rawEntry struct {
	seq   int64
	start int32
	end   [nFields]int32 // field i is buf[end[i-1]:end[i]], field 0 from start
}

func (b *chainBatch) field(e *rawEntry, i int) []byte {
	from := e.start
	if i > 0 {
		from = e.end[i-1]
	}
	return b.buf[from:e.end[i]]
}

// chainBatchSize is the entries of a batch; chainBatches how many batches
// are in flight between the scanning goroutine and the checking one.
const (
	chainBatchSize = 512
	chainBatches   = 4
)

// chainEntry is one entry as the check of the chain sees it, with what
// the scan found about it.
type chainEntry struct {
	seq int64
	// seqGap is seq less the seq expected (the previous entry's plus
	// one): above 0 entries are missing, below 0 the order is broken.
	seqGap int64
	linked bool // prev_hash is the previous entry's hash
	hashOK bool // the fields hash to the recorded hash
	b      *chainBatch
	e      *rawEntry
	// expectPrev is the previous entry's hash, for messages.
	expectPrev string
	sum        [sha256.Size]byte
}

func (c *chainEntry) field(i int) string { return string(c.b.field(c.e, i)) }
func (c *chainEntry) hash() string       { return c.field(fHash) }
func (c *chainEntry) prevHash() string   { return c.field(fPrev) }
func (c *chainEntry) computed() string   { return hex.EncodeToString(c.sum[:]) }

// scanChain reads the entries after from, up to to (0: to the end), in seq order and calls fn with
// each, in order, having hashed it and checked its link to the one before
// (from.Hash for the first). One goroutine reads the rows while the
// calling one hashes and checks them: on two cores the verification runs
// at the speed of the slower of the two, not of both together. It returns
// the hash of the last entry read.
func scanChain(ctx context.Context, eng *engine, tx *sql.Tx, from AuditCheckpoint, to int64, fn func(*chainEntry)) (string, error) {
	if to <= 0 {
		to = math.MaxInt64
	}
	rows, err := tx.QueryContext(ctx, eng.chainQuery, from.Seq, to)
	if err != nil {
		return "", err
	}
	full := make(chan *chainBatch, chainBatches)
	free := make(chan *chainBatch, chainBatches)
	for range chainBatches {
		free <- &chainBatch{buf: make([]byte, 0, chainBatchSize*512), ents: make([]rawEntry, 0, chainBatchSize)}
	}
	go func() {
		defer close(full)
		defer rows.Close()
		var seq int64
		var packed sql.RawBytes
		b := <-free
		for rows.Next() {
			if err := rows.Scan(&seq, &packed); err != nil {
				b.err = err
				full <- b
				return
			}
			e, ok := unpackEntry(b, seq, packed)
			if !ok {
				b.err = fmt.Errorf("entry %d: its fields could not be read (a field is NULL?)", seq)
				full <- b
				return
			}
			b.ents = append(b.ents, e)
			if len(b.ents) == chainBatchSize || len(b.buf) > 1<<30 {
				full <- b
				b = <-free
			}
		}
		b.err = rows.Err()
		full <- b
	}()

	var (
		scratch  []byte
		prev     [2 * sha256.Size]byte
		prevLen  = copy(prev[:], from.Hash)
		expect   = from.Seq + 1
		last     string
		firstErr error
		hexSum   [2 * sha256.Size]byte
	)
	for b := range full {
		if b.err != nil && firstErr == nil {
			firstErr = b.err
		}
		for i := range b.ents {
			if firstErr != nil {
				break
			}
			e := &b.ents[i]
			c := chainEntry{seq: e.seq, seqGap: e.seq - expect, b: b, e: e}
			scratch = appendAuditEncoding(scratch[:0], e.seq, b, e)
			c.sum = sha256.Sum256(scratch)
			hex.Encode(hexSum[:], c.sum[:])
			c.hashOK = bytes.Equal(hexSum[:], b.field(e, fHash))
			c.linked = bytes.Equal(prev[:prevLen], b.field(e, fPrev))
			if !c.linked {
				c.expectPrev = string(prev[:prevLen])
			}
			fn(&c)
			h := b.field(e, fHash)
			if len(h) <= len(prev) {
				prevLen = copy(prev[:], h)
			} else {
				prevLen = 0 // not a hash: no entry links to it
			}
			expect = e.seq + 1
		}
		if n := len(b.ents); n > 0 && firstErr == nil {
			last = string(b.field(&b.ents[n-1], fHash))
		}
		b.buf, b.ents, b.err = b.buf[:0], b.ents[:0], nil
		free <- b
	}
	return last, firstErr
}

// chainQuery reads each entry as its seq and one text: the byte lengths
// of its fields but the last, each as one character (char(n) is the code
// point n, in UTF-8), then the fields back to back. A column costs the
// driver a call, a lock and a string: one instead of eight is most of the
// scan's speed.
const sqliteChainQuery = `SELECT seq, char(octet_length(time), octet_length(actor), octet_length(action),
		octet_length(subject), octet_length(details), octet_length(prev_hash))
		|| time || actor || action || subject || details || prev_hash || hash
	FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq`

// unpackEntry appends the fields of a row of chainQuery to b and returns
// the entry; false when the text is not as chainQuery writes it.
func unpackEntry(b *chainBatch, seq int64, packed []byte) (rawEntry, bool) {
	var lens [nFields - 1]int
	p := packed
	for i := range lens {
		n, size := decodeCodePoint(p)
		if size == 0 {
			return rawEntry{}, false
		}
		lens[i], p = n, p[size:]
	}
	e := rawEntry{seq: seq, start: int32(len(b.buf))}
	b.buf = append(b.buf, p...)
	at := int(e.start)
	for i, n := range lens {
		at += n
		if at > len(b.buf) {
			return rawEntry{}, false
		}
		e.end[i] = int32(at)
	}
	e.end[fHash] = int32(len(b.buf))
	return e, true
}

// decodeCodePoint decodes the code point SQLite's char() encoded at the
// start of p, with the bit layout of UTF-8 but without refusing what UTF-8
// does not allow (surrogates are lengths like others); size 0 when p does
// not start with one.
func decodeCodePoint(p []byte) (n, size int) {
	if len(p) == 0 {
		return 0, 0
	}
	c := p[0]
	switch {
	case c < 0x80:
		return int(c), 1
	case c&0xe0 == 0xc0:
		size, n = 2, int(c&0x1f)
	case c&0xf0 == 0xe0:
		size, n = 3, int(c&0x0f)
	case c&0xf8 == 0xf0:
		size, n = 4, int(c&0x07)
	default:
		return 0, 0
	}
	if len(p) < size {
		return 0, 0
	}
	for _, c := range p[1:size] {
		if c&0xc0 != 0x80 {
			return 0, 0
		}
		n = n<<6 | int(c&0x3f)
	}
	return n, size
}

// appendAuditEncoding appends the encoding AuditEntry.ComputeHash hashes:
// the domain, then each field as its length and its bytes.
func appendAuditEncoding(dst []byte, seq int64, b *chainBatch, e *rawEntry) []byte {
	dst = append(dst, auditHashDomain...)
	var num [20]byte
	s := strconv.AppendInt(num[:0], seq, 10)
	dst = binary.BigEndian.AppendUint64(dst, uint64(len(s)))
	dst = append(dst, s...)
	for i := range fHash { // every field but the hash itself
		f := b.field(e, i)
		dst = binary.BigEndian.AppendUint64(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}
