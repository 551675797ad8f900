package evidence

import (
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/evidence/evidencetest"
)

// BenchmarkParseMix parses sets of the ingest benchmark's mail
// (evidencetest.Mail): each class
// alone and the mix (20 mails: 14 text, 5 medium, 1 large). It reports the
// time per mail; one op parses the whole set.
//
//	go test -run '^$' -bench ParseMix -count 5 ./evidence/
func BenchmarkParseMix(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	var small, medium, large [][]byte
	for n := range 20 {
		small = append(small, evidencetest.Mail(rng, "bench", n, evidencetest.Small))
		medium = append(medium, evidencetest.Mail(rng, "bench", n, evidencetest.Medium))
		if n < 4 {
			large = append(large, evidencetest.Mail(rng, "bench", n, evidencetest.Large))
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
// stray byte each, which the fast path leaves to the byte loop.
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
