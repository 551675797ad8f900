package evidence

import (
	"bufio"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
)

// Content-Transfer-Encoding decoders shared by the in-memory and the
// streaming parse, so that an attachment gets the same size and digest
// whichever path read it. Both are lenient the way mail clients are: bad
// bytes are skipped and counted, never fatal.

// transferDecoder is a reader that undoes a Content-Transfer-Encoding and
// reports what it had to repair once the input is exhausted.
type transferDecoder interface {
	io.Reader
	// problems describes the repairs made so far, for warnings.
	problems() []string
}

// newTransferDecoder returns a decoder for the encoding named in a
// Content-Transfer-Encoding header. ok is false for an encoding it does
// not know; the body is then passed through unchanged.
func newTransferDecoder(cte string, r io.Reader) (d transferDecoder, ok bool) {
	switch normalizeCTE(cte) {
	case "base64":
		return newBase64Decoder(r), true
	case "quoted-printable":
		return newQPDecoder(r), true
	case "", "7bit", "8bit", "binary":
		return identityDecoder{r}, true
	default:
		return identityDecoder{r}, false
	}
}

// normalizeCTE lower-cases a Content-Transfer-Encoding value and drops
// what some senders append after it ("base64; x").
func normalizeCTE(cte string) string {
	cte = strings.ToLower(strings.TrimSpace(cte))
	if i := strings.IndexAny(cte, "; \t"); i >= 0 {
		cte = cte[:i]
	}
	return strings.Trim(cte, "\"")
}

type identityDecoder struct{ io.Reader }

func (identityDecoder) problems() []string { return nil }

// base64Values maps each byte to its base64 value, or to one of the
// classes below.
var base64Values = func() (t [256]int8) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	for _, c := range []byte(" \t\r\n\f\v") {
		t[c] = b64Space
	}
	t['='] = b64Pad
	return t
}()

const (
	b64Invalid = -1
	b64Space   = -2
	b64Pad     = -3
)

// base64Decoder decodes base64 leniently: whitespace and bytes outside
// the alphabet are skipped (the latter counted), a quantum cut short by
// padding or by the end of input yields the whole bytes it holds, and
// decoding resumes after padding, as when a sender concatenates encoded
// chunks.
type base64Decoder struct {
	r       io.Reader
	in      []byte // input buffer
	inPos   int
	inLen   int
	acc     uint32 // pending sextets, low bits last
	n       int    // number of sextets in acc
	out     [3]byte
	outLen  int
	outPos  int
	slowTo  int // in[:slowTo] is left to the byte loop (see decodeRun)
	eof     bool
	err     error // a read error other than io.EOF, returned once drained
	invalid int64 // bytes outside the alphabet
	lost    int   // quanta with a single sextet, which encodes nothing
}

func newBase64Decoder(r io.Reader) *base64Decoder {
	return &base64Decoder{r: r, in: make([]byte, 8<<10)}
}

func (d *base64Decoder) Read(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		if d.outPos < d.outLen {
			n := copy(p[written:], d.out[d.outPos:d.outLen])
			d.outPos += n
			written += n
			continue
		}
		if d.inPos == d.inLen {
			if d.eof {
				break
			}
			n, err := d.r.Read(d.in)
			d.inPos, d.inLen, d.slowTo = 0, n, 0
			if err != nil {
				d.eof = true
				if err != io.EOF {
					d.err = err
				}
			}
			if n == 0 {
				if d.eof {
					d.flush()
				}
				continue
			}
		}
		if d.n == 0 && d.inPos >= d.slowTo {
			// At a quantum boundary: the fast path either decodes a run
			// of the input or leaves it to the loop below.
			written += d.decodeRun(p[written:])
			continue
		}
		// The byte loop: whole quanta straight into p while there is room.
	bytewise:
		for d.inPos < d.inLen && d.outPos == d.outLen {
			c := d.in[d.inPos]
			d.inPos++
			switch v := base64Values[c]; v {
			case b64Space:
			case b64Pad:
				d.flush()
			case b64Invalid:
				d.invalid++
			default:
				d.acc = d.acc<<6 | uint32(v)
				d.n++
				if d.n < 4 {
					continue
				}
				b0, b1, b2 := byte(d.acc>>16), byte(d.acc>>8), byte(d.acc)
				d.acc, d.n = 0, 0
				if len(p)-written >= 3 {
					p[written], p[written+1], p[written+2] = b0, b1, b2
					written += 3
					if written == len(p) {
						return written, nil
					}
					if d.inPos >= d.slowTo && d.inPos < d.inLen {
						break bytewise // a quantum boundary past the slow stretch: try the fast path
					}
					continue
				}
				d.out = [3]byte{b0, b1, b2}
				d.outLen, d.outPos = 3, 0
			}
		}
		if d.inPos == d.inLen && d.eof && d.outPos == d.outLen {
			d.flush()
		}
	}
	if written == 0 && d.eof && d.inPos == d.inLen && d.outPos >= d.outLen {
		if d.err != nil {
			err := d.err
			d.err = nil
			return 0, err
		}
		return 0, io.EOF
	}
	return written, nil
}

// decodeRun is the fast path of Read, called at a quantum boundary (no
// sextets pending, no output held) with input in the buffer: it decodes
// the buffered input into p a quantum at a time, several times faster
// than the byte loop, and returns the bytes written.
//
// It takes only whole quanta of four alphabet characters, and CR and LF
// between them (where MIME's line breaks fall, lines being a multiple of
// four characters long), which is what the byte loop yields the same
// bytes for without counting anything. It stops before anything else
// (other whitespace, bad bytes, padding, a line break within a quantum),
// before a quantum cut off by the end of the buffer, and when p has no
// room for three more bytes. When it cannot take even one quantum, the
// next stretch is left to the byte loop with its lenient handling and its
// counters: d.slowTo marks it, and the byte loop comes back here at the
// first quantum boundary past it.
func (d *base64Decoder) decodeRun(p []byte) int {
	n, used := decodeQuanta(p, d.in[d.inPos:d.inLen])
	if used == 0 {
		d.slowTo = d.inPos + 4
		return 0
	}
	d.inPos += used
	return n
}

// decodeQuanta decodes whole quanta of base64 from src into dst, skipping
// CR and LF between quanta, until a quantum holds anything outside the
// alphabet, src has less than a quantum left, or dst less than three
// bytes of room. It returns the bytes written and read.
func decodeQuanta(dst, src []byte) (n, used int) {
	i := 0
	for {
		// Two quanta at a time, stored with one 8-byte write whose last
		// two bytes the next write overwrites (or the caller ignores).
		for len(src)-i >= 8 && len(dst)-n >= 8 {
			v, w := quantum(src[i:i+4]), quantum(src[i+4:i+8])
			if (v | w) > 0xffffff {
				break
			}
			binary.BigEndian.PutUint64(dst[n:], uint64(v)<<40|uint64(w)<<16)
			n += 6
			i += 8
		}
		// Then one step: a line break, or a single quantum.
		if len(src)-i < 4 || len(dst)-n < 3 {
			return n, i
		}
		if c := src[i]; c == '\r' || c == '\n' {
			i++
			continue
		}
		v := quantum(src[i : i+4])
		if v > 0xffffff {
			return n, i
		}
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
		i += 4
	}
}

// quantum returns the 24 bits of the quantum q (4 characters), or a value
// above 24 bits when one of them is outside the alphabet.
func quantum(q []byte) uint32 {
	_ = q[3]
	return b64Quantum[0][q[0]] | b64Quantum[1][q[1]] | b64Quantum[2][q[2]] | b64Quantum[3][q[3]]
}

// b64Quantum[i][c] is the value of character c in place i of a quantum,
// shifted to its place in the quantum's 24 bits, or b64Outside for a
// character outside the alphabet: OR-ing the four places' values gives
// the quantum's three bytes, or a value above 24 bits.
var b64Quantum = func() (t [4][256]uint32) {
	for i := range t {
		for c, v := range base64Values {
			if v < 0 {
				t[i][c] = b64Outside
			} else {
				t[i][c] = uint32(v) << (6 * (3 - i))
			}
		}
	}
	return t
}()

// b64Outside marks a character outside the alphabet in b64Quantum.
const b64Outside = 1 << 24

// flush emits the whole bytes held by an incomplete quantum.
func (d *base64Decoder) flush() {
	switch d.n {
	case 0:
		return
	case 1:
		d.lost++
	case 2:
		d.out[0] = byte(d.acc >> 4)
		d.outLen, d.outPos = 1, 0
	case 3:
		d.out[0], d.out[1] = byte(d.acc>>10), byte(d.acc>>2)
		d.outLen, d.outPos = 2, 0
	}
	d.acc, d.n = 0, 0
}

func (d *base64Decoder) problems() []string {
	var p []string
	if d.invalid > 0 {
		p = append(p, "invalid base64: skipped "+strconv.FormatInt(d.invalid, 10)+" byte(s) outside the alphabet")
	}
	if d.lost > 0 {
		p = append(p, "invalid base64: "+strconv.Itoa(d.lost)+" truncated quantum(s)")
	}
	return p
}

// qpDecoder decodes quoted-printable (RFC 2045 section 6.7) leniently:
// an "=" not followed by two hex digits or a line break is kept as it
// stands, lower-case hex is accepted, and whitespace before a line break
// is dropped. Line breaks are kept as they appear in the input.
type qpDecoder struct {
	br        *bufio.Reader
	out       []byte // decoded bytes not yet returned
	pos       int    // of the next byte of out to return
	ws        []byte // whitespace held until we know whether it ends a line
	eof       bool
	malformed int64
}

func newQPDecoder(r io.Reader) *qpDecoder {
	return &qpDecoder{br: bufio.NewReaderSize(r, 4<<10)}
}

// maxHeldSpace bounds the whitespace held back: a valid encoded line is at
// most 76 characters, so a longer run cannot be trailing space that
// matters.
const maxHeldSpace = 1024

func (d *qpDecoder) Read(p []byte) (int, error) {
	if d.pos == len(d.out) {
		d.out, d.pos = d.out[:0], 0
	}
	var readErr error
	// Decode ahead in batches: one escape per call would be slow.
	for len(d.out)-d.pos < len(p) && len(d.out) < 4096 && !d.eof {
		if err := d.step(); err != nil {
			d.eof = true
			d.out = append(d.out, d.ws...)
			d.ws = d.ws[:0]
			if err != io.EOF {
				readErr = err
			}
		}
	}
	n := copy(p, d.out[d.pos:])
	d.pos += n
	if readErr != nil {
		return n, readErr
	}
	if n == 0 && d.eof {
		return 0, io.EOF
	}
	return n, nil
}

// step decodes one input unit (a byte, an escape or a soft line break)
// into d.out.
func (d *qpDecoder) step() error {
	c, err := d.br.ReadByte()
	if err != nil {
		return err
	}
	switch c {
	case ' ', '\t':
		d.ws = append(d.ws, c)
		if len(d.ws) > maxHeldSpace {
			d.out = append(d.out, d.ws...)
			d.ws = d.ws[:0]
		}
		return nil
	case '\r', '\n':
		d.ws = d.ws[:0] // trailing whitespace is not part of the data
		d.out = append(d.out, c)
		return nil
	}
	d.out = append(d.out, d.ws...)
	d.ws = d.ws[:0]
	if c != '=' {
		d.out = append(d.out, c)
		return nil
	}
	return d.escape()
}

// escape handles what follows an "=".
func (d *qpDecoder) escape() error {
	next, _ := d.br.Peek(2)
	if len(next) >= 2 && isHex(next[0]) && isHex(next[1]) {
		d.out = append(d.out, unhex(next[0])<<4|unhex(next[1]))
		_, _ = d.br.Discard(2)
		return nil
	}
	// A soft line break, possibly with whitespace a gateway added.
	i := 0
	var b []byte
	for {
		b, _ = d.br.Peek(i + 1)
		if len(b) <= i || (b[i] != ' ' && b[i] != '\t') || i >= maxHeldSpace {
			break
		}
		i++
	}
	switch {
	case len(b) > i && b[i] == '\n':
		_, _ = d.br.Discard(i + 1)
		return nil
	case len(b) > i && b[i] == '\r':
		if b2, _ := d.br.Peek(i + 2); len(b2) > i+1 && b2[i+1] == '\n' {
			_, _ = d.br.Discard(i + 2)
		} else {
			_, _ = d.br.Discard(i + 1)
		}
		return nil
	case len(b) == i:
		// "=" (and maybe whitespace) at the very end of the input.
		_, _ = d.br.Discard(i)
		return nil
	}
	d.malformed++
	d.out = append(d.out, '=')
	return nil
}

func (d *qpDecoder) problems() []string {
	if d.malformed > 0 {
		return []string{"malformed quoted-printable: " + strconv.FormatInt(d.malformed, 10) + " stray \"=\" kept as is"}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
