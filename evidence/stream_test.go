package evidence

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestHeaderGuard(t *testing.T) {
	g := newHeaderGuard(strings.NewReader(strings.Repeat("x", 100)))
	g.startHeader(10)
	b, err := io.ReadAll(g)
	if len(b) != 10 || !errors.Is(err, errHeaderTooLarge) || !g.exceeded {
		t.Errorf("guarded read = %d bytes, %v, exceeded %v; want 10, %v, true", len(b), err, g.exceeded, errHeaderTooLarge)
	}
	g = newHeaderGuard(strings.NewReader(strings.Repeat("x", 100)))
	g.startHeader(10)
	if _, err := io.ReadFull(g, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	g.endHeader()
	if b, err := io.ReadAll(g); len(b) != 95 || err != nil {
		t.Errorf("read after endHeader = %d bytes, %v; want 95, nil", len(b), err)
	}
}

// The streaming parse reads only the first text part, lists every
// attachment and keeps the originals it can hold.
func TestStreamFirstTextPartOnly(t *testing.T) {
	raw := crlf(`From: jana@contoso.cz
Subject: two texts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="o"

--o
Content-Type: multipart/alternative; boundary="a"

--a
Content-Type: text/plain

first EX315207
--a
Content-Type: text/html

<p>second</p>
--a--
--o
Content-Type: text/plain

third
--o
Content-Type: application/zip; name="logs.zip"
Content-Transfer-Encoding: base64

UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==
--o--
`)
	f, err := ParseBytes(raw, &ParseOptions{MaxBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	if f.Text != "first EX315207" || f.HTMLText != "" || !f.Truncated {
		t.Errorf("Text %q, HTMLText %q, Truncated %v; want %q, \"\", true", f.Text, f.HTMLText, f.Truncated, "first EX315207")
	}
	if len(f.Attachments) != 1 || f.Attachments[0].Name != "logs.zip" || f.Attachments[0].Size != 22 {
		t.Errorf("Attachments = %+v, want logs.zip of 22 bytes", f.Attachments)
	}
}

// An original bigger than MaxBytes is streamed too: no Raw, but facts, and
// its size and digest in Attachments.
func TestStreamOriginalTooBigToHold(t *testing.T) {
	inner := "From: jana@contoso.cz\r\nSubject: inner\r\n\r\n" + strings.Repeat("EX315207 outage\r\n", 200)
	raw := []byte("From: support@partner.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"f\"\r\n\r\n" +
		"--f\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "\r\n--f--\r\n")
	f, err := ParseBytes(raw, &ParseOptions{MaxBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Originals) != 1 {
		t.Fatalf("%d originals, want 1", len(f.Originals))
	}
	o := f.Originals[0]
	if o.Raw != nil || o.Facts.Sender != "jana@contoso.cz" || !o.Facts.Truncated || !strings.HasPrefix(o.Facts.Text, "EX315207 outage") {
		t.Errorf("original: Raw of %d bytes, Sender %q, Truncated %v, Text %.20q; want nil Raw, jana@contoso.cz, true, the text",
			len(o.Raw), o.Facts.Sender, o.Facts.Truncated, o.Facts.Text)
	}
	if len(f.Attachments) != 1 || f.Attachments[0].Size != int64(len(inner)) || f.Attachments[0].SHA256 != sha(inner) {
		t.Errorf("Attachments = %+v, want the original's %d bytes and digest", f.Attachments, len(inner))
	}
}

// TestStreamPeakRSS is the requirement in numbers: a message with a
// 100 MiB attachment, parsed from a file, must peak well under 150 MiB of
// resident memory. It runs the parse in a child process so that nothing
// else of the test binary counts.
func TestStreamPeakRSS(t *testing.T) {
	if path := os.Getenv("CLAIMTRAIL_PEAK_RSS_CHILD"); path != "" {
		peakRSSChild(path)
		return
	}
	if testing.Short() {
		t.Skip("writes a 137 MiB file")
	}
	if _, ok := vmHWM(); !ok {
		t.Skip("no /proc/self/status here")
	}
	path, digest := attachmentMessageFile(t, 100<<20)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestStreamPeakRSS$")
	cmd.Env = append(os.Environ(), "CLAIMTRAIL_PEAK_RSS_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var peak int64
	var gotDigest string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "peak-rss "); ok {
			fields := strings.Fields(rest)
			peak, _ = strconv.ParseInt(fields[0], 10, 64)
			gotDigest = fields[1]
		}
	}
	t.Logf("peak RSS parsing a %d MiB attachment: %.1f MiB", 100, float64(peak)/(1<<20))
	if gotDigest != digest {
		t.Errorf("attachment SHA-256 = %s, want %s", gotDigest, digest)
	}
	if peak == 0 || peak > 150<<20 {
		t.Errorf("peak RSS = %d bytes, want above 0 and at most 150 MiB", peak)
	}
}

func peakRSSChild(path string) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	st, _ := f.Stat()
	facts, err := Parse(f, st.Size(), nil)
	if err != nil || len(facts.Attachments) != 1 {
		fmt.Println("error", err)
		os.Exit(1)
	}
	peak, _ := vmHWM()
	fmt.Printf("peak-rss %d %s\n", peak, facts.Attachments[0].SHA256)
}
