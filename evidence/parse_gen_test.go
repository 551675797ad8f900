package evidence

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Generators for test messages too big or too repetitive to commit.

// lineWrapper breaks base64 output into 76-character lines (RFC 2045).
type lineWrapper struct {
	w   io.Writer
	col int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := 76 - l.col
		if n > len(p) {
			n = len(p)
		}
		if _, err := l.w.Write(p[:n]); err != nil {
			return written, err
		}
		written += n
		l.col += n
		p = p[n:]
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.col = 0
		}
	}
	return written, nil
}

// writeAttachmentMessage writes a message with a short text part and one
// base64 attachment of n pseudo-random bytes, and returns the attachment's
// SHA-256. Nothing of size n is held in memory.
func writeAttachmentMessage(w io.Writer, n int64) (string, error) {
	bw := bufio.NewWriter(w)
	fmt.Fprint(bw, "From: Jana Nováková <jana@contoso.cz>\r\n"+
		"To: support@partner.example\r\n"+
		"Subject: Outage EX315207, log attached\r\n"+
		"Date: Mon, 3 Mar 2025 09:15:00 +0100\r\n"+
		"Message-ID: <big@contoso.cz>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Please claim the credit for EX315207. The log is attached.\r\n"+
		"--b1\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Disposition: attachment; filename=\"mailbox.log\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n")
	lw := &lineWrapper{w: bw}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(io.MultiWriter(enc, h), src, n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	fmt.Fprint(bw, "\r\n--b1--\r\n")
	return hex.EncodeToString(h.Sum(nil)), bw.Flush()
}

// attachmentMessageFile writes writeAttachmentMessage's message to a file
// in a test's temporary directory.
func attachmentMessageFile(tb testing.TB, n int64) (path, digest string) {
	tb.Helper()
	path = filepath.Join(tb.TempDir(), "big.eml")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	digest, err = writeAttachmentMessage(f, n)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, digest
}

// manyPartsMessage returns a multipart message with n small attachments.
func manyPartsMessage(n int) []byte {
	var b strings.Builder
	b.WriteString("From: a@contoso.cz\r\nSubject: many parts\r\nDate: Mon, 3 Mar 2025 09:15:00 +0100\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n" +
		"--p\r\nContent-Type: text/plain\r\n\r\nEX315207\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--p\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\n\r\n%d\r\n", i, i)
	}
	b.WriteString("--p--\r\n")
	return []byte(b.String())
}

// nestedOriginals returns a message carrying an original carrying an
// original, depth levels deep; the innermost says "innermost".
func nestedOriginals(depth int) []byte {
	msg := "From: level0@tenant.example\r\nSubject: innermost\r\n\r\ninnermost\r\n"
	for i := 1; i <= depth; i++ {
		msg = fmt.Sprintf("From: level%d@tenant.example\r\nSubject: level %d\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=\"n%d\"\r\n\r\n"+
			"--n%d\r\nContent-Type: text/plain\r\n\r\nforwarding\r\n"+
			"--n%d\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--n%d--\r\n", i, i, i, i, i, msg, i)
	}
	return []byte(msg)
}

// nestedMultiparts returns a message whose multipart entities nest depth
// levels deep.
func nestedMultiparts(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: a@contoso.cz\r\nSubject: nested\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"m%d\"\r\n\r\n--m%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep text\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--m%d--\r\n", i)
	}
	return []byte(b.String())
}

// vmHWM returns the process's peak resident set size in bytes, and
// clearVmHWM starts a new peak (Linux; ok is false elsewhere).
func vmHWM() (n int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, found := strings.CutPrefix(line, "VmHWM:"); found {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}

func clearVmHWM() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// encodeQP writes data quoted-printable encoded, line breaks as hard line
// breaks, as a mail client would.
func encodeQP(w *bytes.Buffer, data []byte) {
	qw := quotedprintable.NewWriter(w)
	_, _ = qw.Write(data)
	_ = qw.Close()
}

// encodeBase64 writes data base64 encoded in 76-character lines.
func encodeBase64(w *bytes.Buffer, data []byte) {
	enc := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: w})
	_, _ = enc.Write(data)
	_ = enc.Close()
}
