package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// SpoolFile is a raw message (or a bundle) written to a temporary file, with
// the SHA-256 and size computed while it was written. It lets a slow consumer
// read the bytes again and again without holding them in memory, and frees
// the producer (an IMAP literal with a fixed deadline) at once.
//
// A SpoolFile is safe for concurrent ReadAt calls. Close removes the file.
type SpoolFile struct {
	f      *os.File
	size   int64
	sha256 string
}

// spoolPrefix names spool files so that files left behind by a crash can be
// recognised and cleaned up.
const spoolPrefix = "claimtrail-spool-"

// Spool copies r into a new temporary file in dir (os.TempDir() when dir is
// empty) while hashing it. It stops with ctx's error when ctx ends. On error
// nothing is left behind.
func Spool(ctx context.Context, r io.Reader, dir string) (*SpoolFile, error) {
	return spoolFunc(dir, func(w io.Writer) error {
		_, err := io.Copy(w, ctxReader{ctx, r})
		return err
	})
}

// spoolFunc spools what write writes, hashing and counting it.
func spoolFunc(dir string, write func(w io.Writer) error) (*SpoolFile, error) {
	f, err := os.CreateTemp(dir, spoolPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("evidence: spool: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := write(cw); err != nil {
		discard(f)
		return nil, fmt.Errorf("evidence: spool to %s: %w", f.Name(), err)
	}
	return &SpoolFile{f: f, size: cw.n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// ReadAt implements io.ReaderAt.
func (s *SpoolFile) ReadAt(p []byte, off int64) (int, error) {
	return s.f.ReadAt(p, off)
}

// Size returns the number of bytes spooled.
func (s *SpoolFile) Size() int64 { return s.size }

// SHA256 returns the lowercase hex SHA-256 of the bytes spooled.
func (s *SpoolFile) SHA256() string { return s.sha256 }

// Name returns the path of the temporary file, valid until Close.
func (s *SpoolFile) Name() string { return s.f.Name() }

// Reader returns a new reader over the whole content, independent of any
// other reader of the same SpoolFile.
func (s *SpoolFile) Reader() *io.SectionReader {
	return io.NewSectionReader(s.f, 0, s.size)
}

// Close closes and removes the temporary file. Calling it again is a no-op.
func (s *SpoolFile) Close() error {
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	cerr := s.f.Close()
	s.f = nil
	rerr := os.Remove(name)
	if err := errors.Join(cerr, rerr); err != nil {
		return fmt.Errorf("evidence: remove spool %s: %w", name, err)
	}
	return nil
}

// ctxReader stops a long copy when its context ends.
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
