package evidence

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Scans made before handing a message to a MIME parser: where its header
// block really ends, and whether its structure is small enough to parse in
// memory.

// maxHeaderScan bounds how far scanHeaderBlock looks for the end of the
// header block; beyond it the block is left to the parsers as it is.
const maxHeaderScan = 8 << 20

// headerScan says how to present a message to the parsers.
type headerScan struct {
	start int64    // offset of the first header line (after an mbox "From " line)
	sepAt int64    // where a missing blank line after the header goes; -1 if none is missing
	notes []string // warnings about what was repaired
}

// reader returns the message as the parsers should see it.
func (hs headerScan) reader(raw io.ReaderAt, size int64) io.Reader {
	if hs.sepAt < 0 {
		return io.NewSectionReader(raw, hs.start, size-hs.start)
	}
	return io.MultiReader(
		io.NewSectionReader(raw, hs.start, hs.sepAt-hs.start),
		strings.NewReader("\r\n"),
		io.NewSectionReader(raw, hs.sepAt, size-hs.sepAt),
	)
}

// scanHeaderBlock finds where the header block of a message ends. Three
// repairs are made, each with a note:
//   - an mbox "From " line before the header is skipped;
//   - lines starting with whitespace before the first field are skipped
//     (nothing for them to continue);
//   - a line that is neither a field nor a continuation, and is not
//     followed by a field, starts the body: the sender left out the blank
//     line (RFC 5322 section 2.1). When a field follows it, it is a fold
//     that lost its indentation, which enmime repairs.
func scanHeaderBlock(raw io.ReaderAt, size int64) headerScan {
	hs := headerScan{sepAt: -1}
	limit := size
	if limit > maxHeaderScan {
		limit = maxHeaderScan
	}
	lr := newLineReader(io.NewSectionReader(raw, 0, limit))
	var (
		off    int64
		fields int
	)
	line, n := lr.next()
	if n > 0 && bytes.HasPrefix(line, []byte("From ")) && !isFieldLine(line) {
		hs.notes = append(hs.notes, "skipped an mbox \"From \" line before the header")
		off += n
		hs.start = off
		line, n = lr.next()
	}
	for n > 0 && fields == 0 && (line[0] == ' ' || line[0] == '\t') && !isBlankLine(line) {
		hs.notes = append(hs.notes, "skipped an indented line before the first header field")
		off += n
		hs.start = off
		line, n = lr.next()
	}
	for n > 0 {
		switch {
		case isBlankLine(line):
			return hs
		case line[0] == ' ' || line[0] == '\t' || isFieldLine(line):
			fields++
			off += n
			line, n = lr.next()
			continue
		}
		// Neither a field nor a continuation.
		next, nn := lr.next()
		if fields > 0 && nn > 0 && (isFieldLine(next) || (next[0] == ' ' || next[0] == '\t') && !isBlankLine(next)) {
			off += n
			line, n = next, nn
			continue
		}
		if lr.truncated {
			return hs // the scan limit cut the header: leave it to the parsers
		}
		hs.sepAt = off
		hs.notes = append(hs.notes, "no blank line between header and body: the body starts at the first line that is not a header field")
		return hs
	}
	return hs
}

// lineBreaksForParsing looks at the first line break of a message. Lines
// ending in CRLF or LF are what the parsers read, and it returns an empty
// note. Lines ending in a bare CR (classic Mac OS) or in LF CR (a CRLF
// conversion applied backwards) would be read as one long header field
// "From" that swallows the message; it returns the message rewritten for
// parsing only, each such line break made CRLF, with a note saying so. The
// evidence bundle keeps the bytes as received. ok is false, with a note,
// when the message is larger than limit, the most a parse holds in memory
// (ParseOptions.MaxBytes): it is then malformed. Such mail comes from old
// Mac OS tools and is small.
func lineBreaksForParsing(raw io.ReaderAt, size, limit int64) (conv []byte, note string, ok bool) {
	head := make([]byte, min(size, 64<<10))
	n, _ := raw.ReadAt(head, 0)
	head = head[:n]
	i := bytes.IndexAny(head, "\r\n")
	if i < 0 {
		return nil, "", true
	}
	var style string
	switch {
	case head[i] == '\r' && (i+1 >= len(head) || head[i+1] != '\n'):
		style = "a bare CR"
	case head[i] == '\n' && i+1 < len(head) && head[i+1] == '\r' && (i+2 >= len(head) || head[i+2] != '\n'):
		style = "LF CR"
	default:
		return nil, "", true
	}
	if size > limit {
		return nil, fmt.Sprintf("lines end in %s, not CRLF, and the message is too large (%d bytes) to be read as lines: malformed", style, size), false
	}
	msg := make([]byte, size)
	if n, err := raw.ReadAt(msg, 0); int64(n) != size {
		return nil, fmt.Sprintf("lines end in %s, not CRLF, and the message could not be read again: %v: malformed", style, err), false
	}
	if style == "LF CR" {
		conv = bytes.ReplaceAll(msg, []byte("\n\r"), []byte("\r\n"))
	} else {
		conv = bareCRToCRLF(msg)
	}
	return conv, fmt.Sprintf("lines end in %s, not CRLF: read with CRLF line breaks (the stored message is unchanged)", style), true
}

// bareCRToCRLF makes each CR that no LF follows a CRLF; CRLF and LF line
// breaks are left as they are.
func bareCRToCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32)
	for i, c := range b {
		out = append(out, c)
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			out = append(out, '\n')
		}
	}
	return out
}

// isBlankLine reports whether a line is empty apart from its line break.
func isBlankLine(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// isFieldLine reports whether a line starts a header field: a name of
// printable ASCII, perhaps spaces, then a colon (RFC 5322 section 2.2;
// the spaces are obsolete syntax still seen).
func isFieldLine(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// lineReader returns the start of each line and the line's full length,
// so that a megabyte-long line costs no more memory than a short one.
type lineReader struct {
	br        *bufio.Reader
	head      []byte
	truncated bool // the input ended within a line without a line break
}

// lineHead is how much of each line the scan looks at.
const lineHead = 1024

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the first bytes of the next line (with its line break if
// short) and the line's length; n is 0 at the end of input.
func (lr *lineReader) next() (head []byte, n int64) {
	lr.head = lr.head[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		n += int64(len(chunk))
		if room := lineHead - len(lr.head); room > 0 {
			if len(chunk) < room {
				room = len(chunk)
			}
			lr.head = append(lr.head, chunk[:room]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && len(chunk) > 0 {
			lr.truncated = true
		}
		return lr.head, n
	}
}

// countMIMEMarkers counts the lines of msg starting with "--" (boundary
// delimiters, at most) and the occurrences of "multipart/" in any case
// (nested multipart entities, at most). enmime's cost grows with the
// square of the parts of one multipart and its stack with their nesting,
// so messages with very many are streamed instead.
func countMIMEMarkers(msg []byte) (dashLines, multiparts int) {
	if bytes.HasPrefix(msg, []byte("--")) {
		dashLines++
	}
	return dashLines + countOf(msg, "\n--", false), countOf(msg, "multipart/", true)
}

// countOf counts the occurrences of pat in w.
// With fold, letters match in either case; pat must then be lower-case
// ASCII without 'k' or 's', the letters strings.EqualFold also matches
// with a non-ASCII rune (K, ſ), so that it agrees with EqualFold.
func countOf(w []byte, pat string, fold bool) int {
	last := pat[len(pat)-1]
	count := 0
	for i := len(pat) - 1; i < len(w); {
		j := bytes.IndexByte(w[i:], last)
		if j < 0 {
			break
		}
		end := i + j + 1
		if matchBefore(w[end-len(pat):end-1], pat[:len(pat)-1], fold) {
			count++
		}
		i = end
	}
	return count
}

// matchBefore reports whether b is pat, comparing from the end: of the
// many '/' in base64, few follow a 't'.
func matchBefore(b []byte, pat string, fold bool) bool {
	for k := len(pat) - 1; k >= 0; k-- {
		c := b[k]
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != pat[k] {
			return false
		}
	}
	return true
}
