package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FileMessage is one message found by WalkFiles: a reader of its raw bytes
// and the name it is known by ("dir/a.eml", or "box.mbox#3" for the third
// message of an mbox).
type FileMessage struct {
	Name string
	R    io.Reader // valid only during the callback
}

// WalkFiles calls fn for every message under each path, in a stable order:
// an .eml file is one message; an mbox file (it starts with "From ") is
// split into its messages; a directory is searched for .eml and .mbox files
// and Maildir messages (cur/ and new/; tmp/ is skipped, as Maildir readers
// must). Other files in a directory are counted in skipped, not read; a file
// named on its own is read as one message whatever its name.
//
// fn's error stops the walk and is returned. A path that cannot be read is
// an error naming it.
func WalkFiles(ctx context.Context, paths []string, fn func(FileMessage) error) (skipped int, err error) {
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return skipped, fmt.Errorf("ingest: import: %w", err)
		}
		if !info.IsDir() {
			if err := walkFile(ctx, p, fn); err != nil {
				return skipped, err
			}
			continue
		}
		files, n, err := mailFiles(p)
		skipped += n
		if err != nil {
			return skipped, err
		}
		for _, f := range files {
			if err := walkFile(ctx, f, fn); err != nil {
				return skipped, err
			}
		}
	}
	return skipped, nil
}

// mailFiles lists the message and mbox files under dir, sorted, and counts
// the other regular files.
func mailFiles(dir string) (files []string, skipped int, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "tmp" && path != dir && isMaildir(filepath.Dir(path)) {
				return fs.SkipDir // messages being delivered, not yet mail
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		parent := filepath.Base(filepath.Dir(path))
		inMaildir := (parent == "cur" || parent == "new") && isMaildir(filepath.Dir(filepath.Dir(path)))
		switch ext := strings.ToLower(filepath.Ext(path)); {
		case inMaildir, ext == ".eml", ext == ".mbox", ext == ".mbx":
			files = append(files, path)
		default:
			skipped++
		}
		return nil
	})
	if err != nil {
		return nil, skipped, fmt.Errorf("ingest: import: %w", err)
	}
	slices.Sort(files)
	return files, skipped, nil
}

// isMaildir reports whether dir has the cur and new subdirectories.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// walkFile hands fn the message in path, or each message of an mbox.
func walkFile(ctx context.Context, path string, fn func(FileMessage) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ingest: import: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(len(mboxFrom))
	if !bytes.Equal(head, mboxFrom) {
		if err := fn(FileMessage{Name: path, R: br}); err != nil {
			return err
		}
		return nil
	}
	mr := NewMboxReader(br)
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := mr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ingest: import %s: %w", path, err)
		}
		if err := fn(FileMessage{Name: path + "#" + strconv.Itoa(n), R: r}); err != nil {
			return err
		}
	}
}

var mboxFrom = []byte("From ")

// MboxReader splits an mbox into its messages as it reads, holding one line
// fragment at a time. Lines that the writer escaped (">From ", ">>From "
// in mboxrd) lose one ">"; the blank line that separates messages is not
// part of either.
type MboxReader struct {
	br  *bufio.Reader
	cur *mboxMessage
}

// NewMboxReader returns a reader of the mbox in r. The bufio.Reader's
// buffer must hold at least 64 bytes.
func NewMboxReader(r *bufio.Reader) *MboxReader { return &MboxReader{br: r} }

// Next skips the rest of the current message and returns a reader of the
// next one, or io.EOF after the last. It fails when the input does not
// start with a "From " line.
func (m *MboxReader) Next() (io.Reader, error) {
	if m.cur != nil {
		if _, err := io.Copy(io.Discard, m.cur); err != nil {
			return nil, err
		}
	}
	head, err := m.br.Peek(len(mboxFrom))
	if len(head) == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if !bytes.Equal(head, mboxFrom) {
		return nil, errors.New(`not an mbox: a message does not start with a "From " line`)
	}
	// The envelope line belongs to the mbox, not to the message.
	if err := skipLine(m.br); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	m.cur = &mboxMessage{br: m.br, lineStart: true}
	return m.cur, nil
}

func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return err
	}
}

// mboxMessage reads one message of an mbox, up to the next envelope line.
type mboxMessage struct {
	br        *bufio.Reader
	pending   []byte // bytes of the current line not yet handed out
	lineStart bool   // the next byte read starts a line
	done      bool
	err       error
}

func (m *mboxMessage) Read(p []byte) (int, error) {
	for len(m.pending) == 0 {
		if m.done {
			return 0, m.err
		}
		m.fill()
	}
	n := copy(p, m.pending)
	m.pending = m.pending[n:]
	return n, nil
}

// fill reads the next line fragment into pending, or ends the message.
func (m *mboxMessage) fill() {
	if m.lineStart {
		if m.atEnd() {
			m.done, m.err = true, io.EOF
			return
		}
		// Unescape ">From " / ">>From ": drop one ">".
		if peek, _ := m.br.Peek(64); len(peek) > 0 && peek[0] == '>' {
			rest := bytes.TrimLeft(peek, ">")
			if bytes.HasPrefix(rest, mboxFrom) {
				_, _ = m.br.Discard(1)
			}
		}
	}
	frag, err := m.br.ReadSlice('\n')
	switch {
	case err == nil:
		m.lineStart = true
	case errors.Is(err, bufio.ErrBufferFull):
		m.lineStart = false
	case errors.Is(err, io.EOF):
		m.lineStart = false
		m.done, m.err = true, io.EOF
	default:
		m.done, m.err = true, err
	}
	// ReadSlice's bytes live until the next read: hand out a copy.
	m.pending = append(m.pending[:0], frag...)
}

// atEnd reports whether the message ends here: at the end of input, at the
// next envelope line, or at the blank line that comes before one.
func (m *mboxMessage) atEnd() bool {
	peek, err := m.br.Peek(len(mboxFrom) + 2)
	if len(peek) == 0 && err != nil {
		return true
	}
	if bytes.HasPrefix(peek, mboxFrom) {
		return true
	}
	for _, blank := range [][]byte{[]byte("\r\n"), []byte("\n")} {
		if !bytes.HasPrefix(peek, blank) {
			continue
		}
		after, err := m.br.Peek(len(blank) + len(mboxFrom))
		if bytes.HasPrefix(after[len(blank):], mboxFrom) || (len(after) == len(blank) && err != nil) {
			_, _ = m.br.Discard(len(blank))
			return true
		}
	}
	return false
}
