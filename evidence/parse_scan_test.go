package evidence

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
)

// countMIMEMarkersWhole is countMIMEMarkers by its plain definition,
// with bytes.Count and strings.EqualFold: what the fast scan must meet.
func countMIMEMarkersWhole(b []byte) (dashLines, multiparts int) {
	if bytes.HasPrefix(b, []byte("--")) {
		dashLines++
	}
	dashLines += bytes.Count(b, []byte("\n--"))
	const pat = "multipart/"
	for i := 0; i+len(pat) <= len(b); i++ {
		if strings.EqualFold(string(b[i:i+len(pat)]), pat) {
			multiparts++
		}
	}
	return dashLines, multiparts
}

func checkMIMEMarkers(t *testing.T, in []byte) {
	t.Helper()
	wd, wm := countMIMEMarkersWhole(in)
	if d, m := countMIMEMarkers(in); d != wd || m != wm {
		t.Fatalf("countMIMEMarkers(%d bytes, %.80q...) = %d dash lines, %d multiparts; want %d, %d", len(in), in, d, m, wd, wm)
	}
}

func TestCountMIMEMarkers(t *testing.T) {
	for _, s := range []string{
		"",
		"-",
		"--b\r\n",
		"\n--\n--\n---",
		"Content-Type: Multipart/Mixed; boundary=x\r\n\r\n--x\r\nContent-Type: MULTIPART/alternative\r\n--x--\r\n",
		"multipart/multipart/multipart",
		"multipart\\/ multipar/ ultipart/ multipart-/ xmultipart/",
		"MuLtIpArT/",
		"multipaRt/",
		"multip\u212aart/ multipart/ mu\u017ftipart/", // Kelvin sign, long s: no letter of the pattern folds to them
		"multi\xffpart/ \xe2\x84\xaaultipart/",
	} {
		checkMIMEMarkers(t, []byte(s))
	}
	// Markers at every offset about 64 KiB into a long input, and again
	// about 9 bytes further.
	const window = 64 << 10
	for _, marker := range []string{"\n--", "multipart/", "MULTIPART/", "\r\n--b--\r\n"} {
		for off := window - 12; off <= window+12; off++ {
			in := append(bytes.Repeat([]byte("AbC/t9+"), (window+100)/7), bytes.Repeat([]byte("x"), 64<<10)...)
			copy(in[off:], marker)
			copy(in[window+9+off:], marker)
			checkMIMEMarkers(t, in)
		}
	}
}

// countOf's fold matches ASCII letters only, which agrees with
// strings.EqualFold only for letters that fold to no other rune.
func TestCountOfFoldLetters(t *testing.T) {
	for _, c := range "multipart" {
		for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
			if f != unicode.ToUpper(c) {
				t.Errorf("%q folds to %q too: countOf would not see it", c, f)
			}
		}
	}
}

func FuzzCountMIMEMarkers(f *testing.F) {
	f.Add([]byte("--x\r\nContent-Type: multipart/mixed\r\n--x--"), uint16(0))
	f.Add([]byte("MULTIPART/\n--"), uint16(65530))
	f.Fuzz(func(t *testing.T, data []byte, at uint16) {
		// The data alone, and behind base64-like text.
		in := append(bytes.Repeat([]byte("t/"), 32<<10+int(at%64)), data...)
		checkMIMEMarkers(t, data)
		checkMIMEMarkers(t, in)
	})
}

func TestIsBase64Lines(t *testing.T) {
	ok := func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("+/=\r\n", c) >= 0
	}
	base := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\nYWJj\n")
	for n := 0; n <= len(base); n++ {
		if !isBase64Lines(base[:n]) {
			t.Fatalf("isBase64Lines(%q) = false", base[:n])
		}
	}
	// Every byte value at every place in the 8-byte steps and the tail.
	for c := range 256 {
		for n := 1; n <= 19; n++ {
			for at := 0; at < n; at++ {
				b := bytes.Repeat([]byte("A"), n)
				b[at] = byte(c)
				if got := isBase64Lines(b); got != ok(byte(c)) {
					t.Fatalf("isBase64Lines(%q) = %v", b, got)
				}
			}
		}
	}
}
