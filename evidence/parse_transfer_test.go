package evidence

import (
	"bytes"
	"errors"
	"io"
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
