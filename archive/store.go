package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Store is a write-once object store for evidence bundles and audit anchors.
// Dir and MinIO implement it and pass the same conformance suite
// (archive/archivetest). There is no Delete: evidence is only ever added.
//
// Every method is safe for concurrent use. Keys are checked by ValidateKey;
// a bad key gives an error wrapping ErrInvalidKey before any I/O. A canceled
// ctx gives an error wrapping ctx.Err().
type Store interface {
	// Put stores exactly size bytes read from r under key, unless the key
	// exists. Nothing is stored unless all bytes arrived and matched
	// opts.SHA256 (if set); a short or long reader or a wrong hash gives
	// ErrCorrupt. If the key already holds the same bytes (same SHA-256),
	// Put is a successful no-op and returns the stored object's info with
	// Existed set, so retrying a Put is always safe. Different bytes give
	// ErrExists and leave the stored object untouched. Of concurrent Puts of
	// one key exactly one creates it; the others see it as existing. A
	// store that cannot be reached gives ErrUnavailable (retry later).
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)

	// Get opens the object for reading; the caller must Close the reader.
	// A missing key gives ErrNotFound. The reader checks the bytes against
	// the recorded SHA-256 and fails with ErrCorrupt at EOF if they differ,
	// so only a reader consumed to io.EOF has been verified.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)

	// Stat describes the object, SHA256 included; a missing key gives
	// ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List yields the objects whose keys start with prefix (any string
	// ValidatePrefix accepts, "" for all), in ascending byte order of key.
	// SHA256 is left empty: call Stat for it. An error ends the sequence.
	// Objects stored while listing may or may not appear.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]

	// SetLegalHold places (on) or lifts (!on) a legal hold on the object, so
	// that it outlives its retention period while a claim is disputed.
	// Idempotent; a missing key gives ErrNotFound.
	SetLegalHold(ctx context.Context, key string, on bool) error

	// URL returns a URL from which the object can be downloaded with a
	// plain GET until expiry passes. A missing key gives ErrNotFound; a
	// store that cannot make URLs gives ErrNotSupported (stream with Get).
	URL(ctx context.Context, key string, expiry time.Duration) (string, error)

	// Close releases the store's resources. Calls in flight may fail.
	Close() error
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key      string
	Size     int64
	SHA256   string    // lowercase hex of the bytes; empty in List results
	Modified time.Time // when the object was stored
	// Existed is set by Put when the key already held the same bytes and
	// nothing was written.
	Existed bool
}

// PutOptions tune one Put; the zero value is valid.
type PutOptions struct {
	// SHA256 is the lowercase hex SHA-256 the caller expects the bytes to
	// have. Put stores nothing and returns ErrCorrupt if they differ. A
	// caller that built the bytes knows it and should pass it: MinIO then
	// need not read the input twice (or spool it) before sending.
	SHA256 string
	// Verified tells that SHA256 was computed over the very bytes r yields,
	// held in memory (a bundle just built): the MinIO store then does not
	// hash them once more on the way out. The server still checks them
	// against SHA256 and refuses a mismatch (ErrCorrupt). The directory
	// store, which has no server to check, ignores it.
	Verified bool
	// ContentType is served with the object by MinIO, e.g. application/zip.
	ContentType string
	// LegalHold places a legal hold at creation (see Store.SetLegalHold).
	LegalHold bool
}

// Errors of the stores besides the shared ones in errors.go.
var (
	// ErrInvalidKey: the key or prefix is not one ValidateKey accepts.
	ErrInvalidKey = errors.New("invalid key")
	// ErrCorrupt: bytes do not match their declared size or SHA-256, on
	// the way in (Put) or out (Get).
	ErrCorrupt = errors.New("content does not match its size or SHA-256")
	// ErrNotSupported: this store cannot do that (Dir cannot make URLs).
	ErrNotSupported = errors.New("not supported by this store")
)

// Limits on what the stores accept.
const (
	// MaxKeyLen is S3's limit on key length, in bytes.
	MaxKeyLen = 1024
	// MaxKeySegment is the longest name most filesystems allow (NAME_MAX).
	MaxKeySegment = 255
	// MaxObjectSize is the largest object one S3 PUT may carry; evidence is
	// mail, so far below it.
	MaxObjectSize int64 = 5 << 30
)

// ValidateKey reports whether key is safe for every store: a relative,
// slash-separated path of valid UTF-8 of at most MaxKeyLen bytes, with no
// empty, "." or ".." segment, no segment starting with "." (Dir keeps its
// temporary files under such names), no backslash, no control characters,
// and no segment longer than MaxKeySegment. The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := checkKeyText(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// ValidatePrefix reports whether prefix may be given to List: "" or the
// start of a valid key, such as "bundles/" or "bundles/ab". The error wraps
// ErrInvalidKey.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkKeyText(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		if last && seg == "" {
			break // "bundles/": the prefix ends at a separator
		}
		if err := checkSegment(prefix, seg); err != nil {
			return err
		}
	}
	return nil
}

func checkKeyText(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidKey, key)
	}
	if key[0] == '/' {
		return fmt.Errorf("%w: %q starts with a slash", ErrInvalidKey, key)
	}
	for _, r := range key {
		switch {
		case r == '\\':
			return fmt.Errorf("%w: %q contains a backslash", ErrInvalidKey, key)
		case unicode.IsControl(r):
			return fmt.Errorf("%w: %q contains a control character", ErrInvalidKey, key)
		case r == utf8.RuneError:
			return fmt.Errorf("%w: %q contains U+FFFD", ErrInvalidKey, key)
		}
	}
	return nil
}

func checkSegment(key, seg string) error {
	switch {
	case seg == "":
		return fmt.Errorf("%w: %q has an empty segment", ErrInvalidKey, key)
	case seg[0] == '.':
		return fmt.Errorf("%w: %q: segment %q starts with a dot", ErrInvalidKey, key, seg)
	case len(seg) > MaxKeySegment:
		return fmt.Errorf("%w: %q: a segment is longer than %d bytes", ErrInvalidKey, key, MaxKeySegment)
	}
	return nil
}

// putExisting finishes a Put that found its key taken, on either store:
// a no-op when the stored object's SHA-256 is sum, ErrExists otherwise.
func putExisting(ctx context.Context, st Store, key, sum string) (ObjectInfo, error) {
	info, err := st.Stat(ctx, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: compare with the stored object: %w", key, err)
	}
	if info.SHA256 != sum {
		return ObjectInfo{}, fmt.Errorf("archive: put %s: %w (stored SHA-256 %s, new %s)", key, ErrExists, info.SHA256, sum)
	}
	info.Existed = true
	return info, nil
}

// checkPut checks what every store's Put checks before any I/O.
func checkPut(ctx context.Context, key string, size int64, opts PutOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("size %d is negative: pass the real size", size)
	}
	if size > MaxObjectSize {
		return fmt.Errorf("size %d is larger than the %d bytes a store accepts", size, MaxObjectSize)
	}
	if opts.SHA256 != "" {
		if _, err := decodeSHA256(opts.SHA256); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// decodeSHA256 parses a lowercase hex SHA-256, the only form ObjectInfo
// uses, so that two spellings of one hash never compare unequal.
func decodeSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size || strings.ToLower(s) != s {
		return nil, fmt.Errorf("SHA256 option %q is not 64 lowercase hex digits", s)
	}
	return b, nil
}

// verifyingReader passes on exactly size bytes of r, hashing them, and holds
// back the last byte until it has seen r end and the hash match. So a
// consumer that stops at an error (an HTTP request body, a temporary file
// about to be linked) never gets a complete copy of wrong input.
type verifyingReader struct {
	r         io.Reader
	size      int64
	remaining int64
	h         hash.Hash
	want      []byte // expected SHA-256, or nil for any
	err       error  // sticky; io.EOF once everything was delivered
}

// newVerifyingReader wraps r; want is a hex SHA-256 already checked by
// decodeSHA256, or "".
func newVerifyingReader(r io.Reader, size int64, want string) *verifyingReader {
	v := &verifyingReader{r: r, size: size, remaining: size, h: sha256.New()}
	if want != "" {
		v.want, _ = hex.DecodeString(want)
	}
	return v
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if v.remaining > 1 {
		n, err := v.r.Read(p[:min(int64(len(p)), v.remaining-1)])
		v.h.Write(p[:n])
		v.remaining -= int64(n)
		switch {
		case err == io.EOF:
			v.err = v.short()
		case err != nil:
			v.err = err
		}
		return n, v.err
	}
	// The last byte (or, for an empty object, none): read one more than
	// is due to learn whether r ends here.
	var buf [2]byte
	due := int(v.remaining)
	n, err := io.ReadFull(v.r, buf[:due+1])
	switch {
	case n > due:
		v.err = fmt.Errorf("%w: the input holds more than the %d bytes declared", ErrCorrupt, v.size)
		return 0, v.err
	case n < due && (err == io.EOF || err == io.ErrUnexpectedEOF):
		v.err = v.short()
		return 0, v.err
	case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
		v.err = err
		return 0, v.err
	}
	v.h.Write(buf[:n])
	v.remaining = 0
	if v.want != nil && !bytes.Equal(v.h.Sum(nil), v.want) {
		v.err = fmt.Errorf("%w: the input's SHA-256 is %s, want %x", ErrCorrupt, v.Sum(), v.want)
		return 0, v.err
	}
	v.err = io.EOF
	copy(p, buf[:n])
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (v *verifyingReader) short() error {
	return fmt.Errorf("%w: the input ended after %d of the %d bytes declared",
		ErrCorrupt, v.size-v.remaining, v.size)
}

// Sum returns the hex SHA-256 of the bytes read so far; after a complete
// read, of the whole input.
func (v *verifyingReader) Sum() string { return hex.EncodeToString(v.h.Sum(nil)) }

// drain reads v to the end, for callers that only need the hash.
func (v *verifyingReader) drain() (string, error) {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return "", err
	}
	return v.Sum(), nil
}

// ctxReader fails reads once ctx is done, so a copy from a slow or endless
// source stops when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// checkedReadCloser hashes what is read and compares it with want at EOF:
// Get's guard against bytes altered after they were stored.
type checkedReadCloser struct {
	rc   io.ReadCloser
	key  string
	h    hash.Hash
	want string
	err  error
}

func newCheckedReadCloser(rc io.ReadCloser, key, want string) io.ReadCloser {
	if want == "" {
		return rc
	}
	return &checkedReadCloser{rc: rc, key: key, h: sha256.New(), want: want}
}

func (c *checkedReadCloser) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.rc.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			c.err = fmt.Errorf("archive: get %s: %w: stored bytes hash to %s, recorded %s", c.key, ErrCorrupt, got, c.want)
			return n, c.err
		}
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

func (c *checkedReadCloser) Close() error { return c.rc.Close() }
