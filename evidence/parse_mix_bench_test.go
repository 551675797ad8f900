package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// The mail of the ingest benchmark (cmd/claimtrail, mixedmail_test.go),
// for profiling Parse alone: 70 % text mail of 4-12 KB, 25 % of 30-200 KB
// with one base64 attachment, 5 % of 1-3 MB with one, CRLF line ends.

// benchMail returns a message of about size bytes: text only when attach
// is false, else a short text and one base64 attachment filling the rest.
func benchMail(rng *rand.Rand, n, size int, attach bool) []byte {
	var b bytes.Buffer
	h := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	h("Received: from mx.adatum-csp.com (localhost [127.0.0.1])")
	h("\tby imap.adatum-csp.com (Postfix) with LMTP id bench")
	h("\tfor <sla-credits@adatum-csp.com>; Mon, 02 Feb 2026 08:00:00 +0000")
	h("Authentication-Results: mx.adatum-csp.com;")
	h("\tdkim=none;")
	h("\tspf=pass smtp.mailfrom=tom.baker@contoso.com;")
	h("\tdmarc=pass (policy=reject) header.from=contoso.com")
	h("Message-ID: <%d.bench@contoso.com>", n)
	h("Date: Mon, 02 Feb 2026 08:%02d:00 +0000", n%60)
	h("From: =?utf-8?b?SmFuIER2b8WZw6Fr?= <tom.baker@contoso.com>")
	h("To: sla-credits@adatum-csp.com")
	h("Subject: EX%d: Outage 2 Feb: please claim the SLA credit", 1100000+n)
	h("MIME-Version: 1.0")
	text := "Hello,\r\n\r\nService Health incident EX1100000 hit us yesterday.\r\n"
	for range 3 + rng.IntN(4) {
		text += benchLine(rng)
	}
	text += "\r\nRegards,\r\nTom Baker\r\n\r\n"
	if !attach {
		h("Content-Type: text/plain; charset=utf-8")
		h("Content-Transfer-Encoding: 8bit")
		h("")
		b.WriteString(text)
		for b.Len() < size {
			b.WriteString(benchLine(rng))
		}
		return b.Bytes()
	}
	boundary := fmt.Sprintf("=_mix_%d_bench", n)
	h("Content-Type: multipart/mixed; boundary=%q", boundary)
	h("")
	h("--%s", boundary)
	h("Content-Type: text/plain; charset=utf-8")
	h("Content-Transfer-Encoding: 8bit")
	h("")
	b.WriteString(text)
	h("--%s", boundary)
	h("Content-Type: application/pdf; name=\"affected-users.pdf\"")
	h("Content-Disposition: attachment; filename=\"affected-users.pdf\"")
	h("Content-Transfer-Encoding: base64")
	h("")
	rest := size - b.Len() - len(boundary) - 8
	raw := make([]byte, (max(rest, 78)/78*57+7)/8*8)
	for i := 0; i < len(raw); i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], rng.Uint64())
	}
	enc := make([]byte, base64.StdEncoding.EncodedLen(57))
	for len(raw) > 0 {
		k := min(57, len(raw))
		base64.StdEncoding.Encode(enc, raw[:k])
		b.Write(enc[:base64.StdEncoding.EncodedLen(k)])
		b.WriteString("\r\n")
		raw = raw[k:]
	}
	h("--%s--", boundary)
	return b.Bytes()
}

var benchWords = strings.Fields(`the users of our tenant could not open their mailboxes
	this morning and sharepoint sites timed out for most of the day we saw the
	advisory in the admin center and opened a ticket with your support desk
	please file the service credit request on our behalf attached is the list
	of affected users and the screenshots our help desk took during the outage
	teams meetings dropped every few minutes calls failed and files did not sync
	thanks regards best wishes kind`)

// benchLine is one line of about 70 characters of words.
func benchLine(rng *rand.Rand) string {
	var b strings.Builder
	for b.Len() < 64 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(benchWords[rng.IntN(len(benchWords))])
	}
	b.WriteString("\r\n")
	return b.String()
}

// BenchmarkParseMix parses sets of the ingest benchmark's mail: each class
// alone and the mix (20 mails: 14 text, 5 medium, 1 large). It reports the
// time per mail; one op parses the whole set.
//
//	go test -run '^$' -bench ParseMix -count 5 ./evidence/
func BenchmarkParseMix(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	var small, medium, large [][]byte
	for n := range 20 {
		small = append(small, benchMail(rng, n, 4<<10+rng.IntN(8<<10), false))
		medium = append(medium, benchMail(rng, n, 30<<10+rng.IntN(170<<10), true))
		if n < 4 {
			large = append(large, benchMail(rng, n, 1<<20+rng.IntN(2<<20), true))
		}
	}
	mix := append(append(append([][]byte{}, small[:14]...), medium[:5]...), large[0])
	for _, set := range []struct {
		name  string
		mails [][]byte
	}{{"text", small}, {"attachment", medium}, {"large", large}, {"mix", mix}} {
		b.Run(set.name, func(b *testing.B) {
			size := 0
			for _, m := range set.mails {
				size += len(m)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, m := range set.mails {
					if _, err := ParseBytes(m, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(set.mails)), "µs/mail")
		})
	}
}

// plainWriter hides io.Discard's ReadFrom, so that io.Copy reads the
// decoder with 32 KiB buffers, as the parse's io.Copy into a hash does.
type plainWriter struct{}

func (plainWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkBase64Decoder measures the lenient base64 decoder on a 1 MiB
// attachment: 76-character lines with CRLF or LF ends, and lines with a
// stray byte each, which the standard decoder refuses.
func BenchmarkBase64Decoder(b *testing.B) {
	crlf := b64(1, 1<<20) + "\r\n"
	cases := []struct{ name, in string }{
		{"crlf", crlf},
		{"lf", strings.ReplaceAll(crlf, "\r\n", "\n")},
		{"stray-bytes", strings.ReplaceAll(crlf, "\r\n", "!\r\n")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				d := newBase64Decoder(strings.NewReader(c.in))
				n, err := io.Copy(plainWriter{}, d)
				if err != nil || n != 1<<20 {
					b.Fatalf("decoded %d bytes, %v", n, err)
				}
			}
		})
	}
}
