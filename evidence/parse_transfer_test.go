package evidence

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func decodeAll(t *testing.T, cte, in string) (string, []string) {
	t.Helper()
	d, ok := newTransferDecoder(cte, strings.NewReader(in))
	if !ok {
		t.Fatalf("newTransferDecoder(%q) does not know the encoding", cte)
	}
	out, err := io.ReadAll(d)
	if err != nil {
		t.Fatalf("decoding %q (%s): %v", in, cte, err)
	}
	return string(out), d.problems()
}

func TestBase64Decoder(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string
		problems int
	}{
		{"plain", "SGVsbG8gd29ybGQ=", "Hello world", 0},
		{"line breaks (RFC 2045 6.8)", "SGVs\r\nbG8g\r\nd29y\nbGQ=\r\n", "Hello world", 0},
		{"no padding", "SGVsbG8gd29ybGQ", "Hello world", 0},
		{"two padding chars", "SGk=", "Hi", 0},
		{"one byte", "SA==", "H", 0},
		{"empty", "", "", 0},
		{"only whitespace", " \r\n\t", "", 0},
		{"invalid bytes skipped", "SGV*sbG8g!d29ybGQ=", "Hello world", 1},
		{"url-safe alphabet is invalid here", "SGVsbG8-", "Hello", 1},
		{"concatenated padded chunks", "SGk=SGk=", "HiHi", 0},
		{"single trailing sextet", "SGVsbG8gd29ybGQ=Q", "Hello world", 1},
		{"padding in the middle then data", "SA==SA==", "HH", 0},
		{"binary", "AP8A/w==", "\x00\xff\x00\xff", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := decodeAll(t, "base64", tt.in)
			if got != tt.want {
				t.Errorf("base64 decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(problems) != tt.problems {
				t.Errorf("base64 decode(%q) problems = %q, want %d", tt.in, problems, tt.problems)
			}
		})
	}
}

func TestQPDecoder(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string
		problems int
	}{
		{"plain", "Hello", "Hello", 0},
		{"escapes", "Gr=FC=DFe", "Gr\xfc\xdfe", 0},
		{"lower-case hex", "Gr=fc=dfe", "Gr\xfc\xdfe", 0},
		{"soft break CRLF (RFC 2045 6.7 rule 5)", "abc=\r\ndef", "abcdef", 0},
		{"soft break LF", "abc=\ndef", "abcdef", 0},
		{"soft break with trailing space", "abc= \t\r\ndef", "abcdef", 0},
		{"hard break kept", "abc\r\ndef\n", "abc\r\ndef\n", 0},
		{"trailing whitespace dropped (rule 3)", "abc  \r\ndef\t\n", "abc\r\ndef\n", 0},
		{"inner whitespace kept", "a  b", "a  b", 0},
		{"trailing whitespace at end kept", "a  ", "a  ", 0},
		{"stray equals kept", "a=b=", "a=b", 1},
		{"equals with one hex at end", "a=F", "a=F", 1},
		{"equals then non-hex", "5=x3", "5=x3", 1},
		{"equals at end", "abc=", "abc", 0},
		{"encoded CRLF", "a=0D=0Ab", "a\r\nb", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := decodeAll(t, "quoted-printable", tt.in)
			if got != tt.want {
				t.Errorf("QP decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(problems) != tt.problems {
				t.Errorf("QP decode(%q) problems = %q, want %d", tt.in, problems, tt.problems)
			}
		})
	}
}

func TestNewTransferDecoder(t *testing.T) {
	tests := []struct {
		cte   string
		known bool
		in    string
		want  string
	}{
		{"", true, "abc", "abc"},
		{"7bit", true, "abc", "abc"},
		{" 8BIT ", true, "abc", "abc"},
		{"Binary", true, "abc", "abc"},
		{"BASE64", true, "YWJj", "abc"},
		{"base64; x=y", true, "YWJj", "abc"},
		{"\"quoted-printable\"", true, "a=3Db", "a=b"},
		{"x-uuencode", false, "abc", "abc"},
	}
	for _, tt := range tests {
		d, known := newTransferDecoder(tt.cte, strings.NewReader(tt.in))
		got, err := io.ReadAll(d)
		if err != nil || known != tt.known || string(got) != tt.want {
			t.Errorf("newTransferDecoder(%q) on %q = %q, known %v, err %v; want %q, known %v", tt.cte, tt.in, got, known, err, tt.want, tt.known)
		}
	}
}

// The decoders must give the same bytes whatever sizes the reads come in.
func TestTransferDecodersReadSizes(t *testing.T) {
	data := bytes.Repeat([]byte("Grüße aus Brno = 100 % \x00\xff\r\n"), 500)
	var qp, b64 bytes.Buffer
	encodeQP(&qp, data)
	encodeBase64(&b64, data)
	for _, tt := range []struct {
		cte, in string
	}{{"quoted-printable", qp.String()}, {"base64", b64.String()}} {
		for _, wrap := range []struct {
			name string
			fn   func(io.Reader) io.Reader
		}{{"one byte", iotest.OneByteReader}, {"half", iotest.HalfReader}, {"data+EOF", iotest.DataErrReader}} {
			d, _ := newTransferDecoder(tt.cte, wrap.fn(strings.NewReader(tt.in)))
			got, err := io.ReadAll(iotest.OneByteReader(d))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s decoder with %s reads: %d bytes, err %v; want the %d input bytes", tt.cte, wrap.name, len(got), err, len(data))
			}
		}
	}
}

func TestTransferDecodersPassReadErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, cte := range []string{"base64", "quoted-printable"} {
		d, _ := newTransferDecoder(cte, io.MultiReader(strings.NewReader("YWJj"), iotest.ErrReader(boom)))
		if _, err := io.ReadAll(d); !errors.Is(err, boom) {
			t.Errorf("%s decoder: error = %v, want %v", cte, err, boom)
		}
	}
}

// chunkReader hands out its data at most n bytes a read.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// base64Result is all a base64Decoder reports.
type base64Result struct {
	out      []byte
	invalid  int64
	lost     int
	problems []string
}

// decodeBase64With decodes in, read from a reader that returns at most
// chunk bytes a read (all it can when chunk is 0), into reads of bufSize
// bytes. Reads of fewer than 3 bytes never take the fast path.
func decodeBase64With(t *testing.T, in []byte, chunk, bufSize int) base64Result {
	t.Helper()
	var r io.Reader = bytes.NewReader(in)
	if chunk > 0 {
		r = &chunkReader{data: in, n: chunk}
	}
	d := newBase64Decoder(r)
	var res base64Result
	buf := make([]byte, bufSize)
	for {
		n, err := d.Read(buf)
		res.out = append(res.out, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("base64 decode: %v", err)
		}
		if n == 0 {
			t.Fatal("base64 decoder: Read returned 0, nil")
		}
	}
	res.invalid, res.lost, res.problems = d.invalid, d.lost, d.problems()
	return res
}

// base64Lines is n random bytes base64 encoded in lines of width
// characters ended by eol.
func base64Lines(seed uint64, n, width int, eol string) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	for len(enc) > width {
		b.WriteString(enc[:width] + eol)
		enc = enc[width:]
	}
	b.WriteString(enc + eol)
	return b.Bytes()
}

// base64Seeds are inputs where the fast path must give way to the byte
// loop, or must stop just short of where it would go wrong.
func base64Seeds() [][]byte {
	big := base64Lines(1, 12000, 76, "\r\n") // 16,000 characters: two buffer fills
	at := func(off int, s string) []byte {   // s put into big at off
		return append(append(append([]byte{}, big[:off]...), s...), big[off:]...)
	}
	seeds := [][]byte{
		[]byte("SGVsbG8gd29ybGQ="),
		[]byte("SGVs\r\nbG8g\r\nd29y\nbGQ=\r\n"),
		[]byte("SGk=SGk=\r\nSGk=\r\n"),                 // padding mid-stream
		[]byte("SA==SA==\r\n"),                         // and double padding
		[]byte("SA=\r\n=\r\nSGVsbG8=\r\n"),             // padding split by a line break
		[]byte("SGVs bG8g\r\nd29y bGQ=\r\n"),           // spaces
		[]byte("SGVsbG8g \r\nd29ybGQ=\t\r\n"),          // trailing whitespace
		[]byte("SGV*sbG8g!d29ybGQ=\r\n"),               // invalid bytes
		[]byte("SGVsbG8-\r\nd29y_bGQ\r\n"),             // url-safe alphabet
		[]byte("SGVsbG8gd29ybGQ=Q\r\n"),                // a lone sextet
		[]byte("SGVsbG8gd29ybG\r\nSGVsbG8gd29ybG\r\n"), // lines not a multiple of 4
		[]byte("SGVsbG8gd29ybGQ=\r\n\f\vSGk=\r\n"),
		[]byte("\r\n\r\n\n\r"),
		[]byte(""),
		[]byte("S===\r\nSGk=\r\n"),
		[]byte("SGVsbG8=Z\r\nm9v\r\n"),
		base64Lines(2, 9000, 76, "\n"),
		base64Lines(3, 9000, 75, "\r\n"), // lines of 75
		base64Lines(4, 9000, 73, "\n"),   // and of 73
		base64Lines(5, 9000, 1<<20, ""),  // no line breaks at all
		bytes.ReplaceAll(base64Lines(6, 9000, 76, "\r\n"), []byte("\r\n"), []byte("\n\r\n")),
		big,
		at(8190, "="), at(8191, "="), at(8192, "="), at(8193, "=="), // padding at the buffer boundary
		at(8188, "SA=="), at(8192, "SA=="), at(8190, "SGk="),
		at(8191, "!"), at(8192, " "), at(8193, "\t"), at(16000, "*"), // bad bytes about it
		at(8192, "Q"), at(8190, "QQ"), at(100, "Q"), // a stray sextet shifts every quantum after it
		append(append([]byte{}, big[:8192]...), big[8193:]...), // a character lost
		append(big[:len(big)-2:len(big)-2], "=="...),           // ends in bad padding
	}
	return seeds
}

// checkBase64Reads compares the decoder read in large buffers (the fast
// path) with the decoder read a byte at a time (the byte loop only).
func checkBase64Reads(t *testing.T, in []byte, chunk, bufSize int) {
	t.Helper()
	want := decodeBase64With(t, in, 0, 1)
	got := decodeBase64With(t, in, chunk, bufSize)
	if !bytes.Equal(got.out, want.out) || got.invalid != want.invalid || got.lost != want.lost || !slices.Equal(got.problems, want.problems) {
		t.Fatalf("base64 decode of %d bytes (%.60q...) in %d-byte chunks, %d-byte reads:\n got %d bytes, invalid %d, lost %d, %q\nwant %d bytes, invalid %d, lost %d, %q",
			len(in), in, chunk, bufSize, len(got.out), got.invalid, got.lost, got.problems, len(want.out), want.invalid, want.lost, want.problems)
	}
}

func TestBase64DecoderFastPath(t *testing.T) {
	for i, in := range base64Seeds() {
		for _, chunk := range []int{0, 1, 3, 77, 4096, 8191} {
			for _, bufSize := range []int{2, 3, 4, 5, 64, 100, 513, 8 << 10, 32 << 10} {
				t.Run(fmt.Sprintf("seed%d/chunk%d/buf%d", i, chunk, bufSize), func(t *testing.T) {
					checkBase64Reads(t, in, chunk, bufSize)
				})
			}
		}
	}
}

// FuzzBase64FastPath: the decoder gives the same bytes and counts the
// same problems whatever the sizes of its reads and of its source's, and
// so whether or not it takes the fast path. prefix puts the input after
// that many characters of valid base64 lines (cut anywhere), so that the
// fuzzer's bytes meet the 8 KiB input buffer's edge.
func FuzzBase64FastPath(f *testing.F) {
	for i, s := range base64Seeds() {
		f.Add(s, uint16(0), uint16(0), uint16(32<<10))
		f.Add(s, uint16(8192-i*7), uint16(i*31), uint16(100+i))
	}
	valid := base64Lines(7, 12000, 76, "\r\n")
	f.Fuzz(func(t *testing.T, data []byte, prefix, chunk, bufSize uint16) {
		in := append(append([]byte{}, valid[:int(prefix)%len(valid)]...), data...)
		checkBase64Reads(t, in, int(chunk), 1+int(bufSize))
	})
}
