package evidence

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// Attachment elision, which makes the full parse of mail with large
// attachments several times faster without changing a single fact.
//
// enmime splits parts one byte at a time (about 80 MB/s here), yet of an
// attachment the parse only needs the size and digest of its decoded
// bytes. So before enmime sees a message, a quick scan finds the
// attachments whose body is nothing but base64 lines and swaps each body
// for a unique marker; the walk then takes the real body back where it
// meets the marker. A base64 body holds no '-', so no boundary can hide in
// it, and enmime splits the rest of the message exactly as it would have:
// the tree is the same, only those bodies are shorter. Should enmime split
// the message otherwise than the scan did (broken MIME), a marker turns up
// where it should not, or not at all, and the message is parsed again
// without elision.

const (
	// minElide is the smallest body worth a marker.
	minElide = 4 << 10
	// maxElideDepth bounds the nesting of multiparts the scan follows.
	maxElideDepth = 16
	// markerPrefix starts every marker; a random part follows per message.
	markerPrefix = "claimtrailelided"
)

// elision is a message with some attachment bodies replaced by markers.
type elision struct {
	data   []byte            // what enmime parses
	bodies map[string][]byte // marker -> the body it stands for
	seen   map[string]bool   // markers the walk met where expected
	bad    bool              // a marker turned up where it should not
}

// elide is elideAttachments; tests turn it off to compare.
var elide = elideAttachments

// elideAttachments returns msg with the bodies of its large base64
// attachments replaced by markers, or nil when there is none to replace or
// the structure is not plain enough to be sure.
func elideAttachments(msg []byte) *elision {
	s := &elideScan{msg: msg}
	if !s.entity(0, len(msg), 0, false) || len(s.cuts) == 0 {
		return nil
	}
	var nonce [12]byte
	rand.Read(nonce[:])
	prefix := markerPrefix + hex.EncodeToString(nonce[:])
	e := &elision{bodies: map[string][]byte{}, seen: map[string]bool{}}
	out := make([]byte, 0, len(msg)/8)
	last := 0
	for i, c := range s.cuts {
		marker := prefix + strconv.Itoa(i)
		out = append(out, msg[last:c[0]]...)
		out = append(out, marker...)
		e.bodies[marker] = msg[c[0]:c[1]]
		last = c[1]
	}
	e.data = append(out, msg[last:]...)
	return e
}

// body returns the real body for content that is a marker.
func (e *elision) body(content []byte) ([]byte, bool) {
	if e == nil || !bytes.HasPrefix(content, []byte(markerPrefix)) {
		return nil, false
	}
	b, ok := e.bodies[string(content)]
	if ok {
		if e.seen[string(content)] {
			e.bad = true
		}
		e.seen[string(content)] = true
	}
	return b, ok
}

// complete reports whether the walk met every marker once, each where an
// attachment was expected.
func (e *elision) complete() bool {
	return !e.bad && len(e.seen) == len(e.bodies)
}

// elideScan walks a message's MIME structure in place.
type elideScan struct {
	msg  []byte
	cuts [][2]int // body ranges to replace, in order
}

// entity scans the entity msg[start:end] (header and body); false means
// the structure is not plain enough to elide anything in the message.
// Only parts of a multipart are elided: where a body ends is plain there.
func (s *elideScan) entity(start, end, depth int, inMultipart bool) bool {
	if depth > maxElideDepth {
		return false
	}
	hdr, bodyStart, ok := s.header(start, end)
	if !ok {
		return true // no header block: nothing to elide here
	}
	ct, cte := hdr["content-type"], hdr["content-transfer-encoding"]
	if len(ct) > 1 || len(cte) > 1 {
		return true // which one counts is the parser's business
	}
	mt, params := "text/plain", map[string]string(nil)
	if len(ct) == 1 {
		if _, bound := boundMediaType(ct[0]); bound != "" {
			return false // checkComplexity refuses the message
		}
		t, p, _, err := parseMediaType(ct[0])
		if err != nil {
			return true
		}
		mt, params = strings.ToLower(t), p
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" {
			return true
		}
		return s.multipart(bodyStart, end, params["boundary"], depth)
	case strings.HasPrefix(mt, "text/"), strings.HasPrefix(mt, "message/"), !strings.Contains(mt, "/"):
		return true
	case !inMultipart, len(cte) == 0 || normalizeCTE(cte[0]) != "base64":
		return true
	}
	if end-bodyStart >= minElide && isBase64Lines(s.msg[bodyStart:end]) {
		s.cuts = append(s.cuts, [2]int{bodyStart, end})
	}
	return true
}

// multipart scans the parts of a multipart body msg[start:end]. A part
// ends before the line break that precedes the next delimiter line (RFC
// 2046 section 5.1.1).
func (s *elideScan) multipart(start, end int, boundary string, depth int) bool {
	delim := "--" + boundary
	partStart := -1
	closed := false
	for off := start; off < end && !closed; {
		line, next := lineAt(s.msg, off, end)
		if bytes.HasPrefix(line, []byte(delim)) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			switch string(rest) {
			case "", "--":
			default:
				return false // a line like a delimiter but not one: ambiguous
			}
			if partStart >= 0 {
				partEnd := off
				// The line break before the delimiter belongs to it.
				if partEnd > partStart && s.msg[partEnd-1] == '\n' {
					partEnd--
					if partEnd > partStart && s.msg[partEnd-1] == '\r' {
						partEnd--
					}
				}
				if !s.entity(partStart, partEnd, depth+1, true) {
					return false
				}
			}
			closed = string(rest) == "--"
			partStart = next
		}
		off = next
	}
	return closed // without the close delimiter, leave it all to enmime
}

// header reads the header block of the entity at msg[start:end]: the
// fields by lower-case name, unfolded, and where the body starts.
//
// A field is unfolded once it ends, into one builder: appending each
// continuation line to a string cost the square of a field's folds.
func (s *elideScan) header(start, end int) (map[string][]string, int, bool) {
	fields := map[string][]string{}
	var (
		name  string
		value strings.Builder
	)
	flush := func() {
		if name != "" {
			fields[name] = append(fields[name], value.String())
			value.Reset()
		}
	}
	for off := start; off < end; {
		line, next := lineAt(s.msg, off, end)
		content := bytes.TrimRight(line, "\r\n")
		switch {
		case len(content) == 0:
			flush()
			return fields, next, true
		case content[0] == ' ' || content[0] == '\t':
			if name == "" {
				return nil, 0, false
			}
			value.WriteByte(' ')
			value.Write(bytes.TrimSpace(content))
		default:
			colon := bytes.IndexByte(content, ':')
			if colon <= 0 {
				return nil, 0, false
			}
			flush()
			name = strings.ToLower(strings.TrimSpace(string(content[:colon])))
			value.Write(bytes.TrimSpace(content[colon+1:]))
		}
		off = next
	}
	return nil, 0, false
}

// lineAt returns the line at off (with its line break) and where the next
// one starts.
func lineAt(msg []byte, off, end int) ([]byte, int) {
	if i := bytes.IndexByte(msg[off:end], '\n'); i >= 0 {
		return msg[off : off+i+1], off + i + 1
	}
	return msg[off:end], end
}

// isBase64Lines reports whether b holds only the base64 alphabet and line
// breaks: nothing a MIME parser could take for a boundary. Eight bytes a
// step, without a branch per byte.
func isBase64Lines(b []byte) bool {
	for len(b) >= 8 {
		if base64Line[b[0]]&base64Line[b[1]]&base64Line[b[2]]&base64Line[b[3]]&
			base64Line[b[4]]&base64Line[b[5]]&base64Line[b[6]]&base64Line[b[7]] == 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if base64Line[c] == 0 {
			return false
		}
	}
	return true
}

// base64Line is 1 for the bytes isBase64Lines allows, else 0.
var base64Line = func() (t [256]byte) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n") {
		t[c] = 1
	}
	return t
}()
