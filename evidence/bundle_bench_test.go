package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Run the benchmarks one at a time on a quiet machine, e.g.
//
//	go test -run XXX -bench BundleMethod -benchtime 20x ./evidence/
//	go test -run XXX -bench LargeMessage -benchtime 1x ./evidence/
//
// BenchmarkBundleMethod compares the ZIP methods bundleMethod was chosen
// from, on the two kinds of mail that fill a claims mailbox: text (prose and
// its HTML alternative) and mail carrying base64 attachments (documents and
// screenshots, already compressed). It reports CPU time per MB and per mail and the
// bundle's size relative to the raw message.
func BenchmarkBundleMethod(b *testing.B) {
	html, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "doc", "go_spec.html"))
	if err != nil {
		b.Skip("no prose to build a text mail from:", err)
	}
	text := html[:30_000]
	kinds := []struct {
		name  string
		gen   func(w io.Writer) error
		facts *Facts
	}{
		{"text", func(w io.Writer) error { return writeTextMail(w, text) }, &Facts{Text: string(mailText(text))}},
		{"base64", func(w io.Writer) error { return writeAttachmentMail(w, 4<<20) }, &Facts{Text: "The outage report is attached.\r\n"}},
	}
	methods := []struct {
		name      string
		methodFor func(string) uint16
	}{
		{"store", func(string) uint16 { return zip.Store }},
		{"deflate1", func(string) uint16 { return zip.Deflate }},
		{"deflate1-derived", func(name string) uint16 {
			if name == MessageName {
				return zip.Store
			}
			return zip.Deflate
		}},
		{"chosen", bundleMethod},
	}
	for _, k := range kinds {
		raw := spoolGenerated(b, k.gen)
		for _, m := range methods {
			b.Run(k.name+"/"+m.name, func(b *testing.B) {
				in := &BundleInput{Raw: raw, RawSize: raw.Size(), RawSHA256: raw.SHA256(), Facts: k.facts}
				b.SetBytes(raw.Size())
				var out countWriter
				cpu0 := cpuTime(b)
				for b.Loop() {
					out = countWriter{w: io.Discard}
					if _, err := writeBundle(context.Background(), &out, in, m.methodFor, newPooledFlate); err != nil {
						b.Fatal(err)
					}
				}
				cpu := cpuTime(b) - cpu0
				mb := float64(raw.Size()) / 1e6
				b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N)/mb, "cpu-ms/MB")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/mail")
				b.ReportMetric(float64(out.n)/float64(raw.Size()), "size/raw")
			})
		}
	}
}

// BenchmarkLargeMessage bundles, verifies and extracts a message carrying a
// 100 MB attachment (136 MB as base64) and reports each step's peak RSS
// (VmHWM, reset before the step). The message is streamed from a spool
// file: the figure must stay far below the message's size.
func BenchmarkLargeMessage(b *testing.B) {
	if !resetPeakRSS() {
		b.Skip("cannot reset the peak RSS (/proc/self/clear_refs)")
	}
	dir := b.TempDir()
	raw := spoolGenerated(b, func(w io.Writer) error { return writeAttachmentMail(w, 100<<20) })
	in := &BundleInput{Raw: raw, RawSize: raw.Size(), RawSHA256: raw.SHA256(), Facts: &Facts{}}
	var bundle *SpoolFile
	b.Cleanup(func() {
		if bundle != nil {
			bundle.Close()
		}
	})
	steps := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"bundle", func(b *testing.B) {
			if bundle != nil {
				bundle.Close()
			}
			var err error
			if bundle, _, err = SpoolBundle(context.Background(), dir, in); err != nil {
				b.Fatal(err)
			}
		}},
		{"verify", func(b *testing.B) {
			if err := VerifyBundle(bundle, bundle.Size(), BundleKey(raw.SHA256(), 1)); err != nil {
				b.Fatal(err)
			}
		}},
		{"extract", func(b *testing.B) {
			out, err := os.MkdirTemp(dir, "extract")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(out)
			names, err := Extract(bundle, bundle.Size(), out)
			if err != nil || len(names) != 1 {
				b.Fatalf("Extract() = %q, %v", names, err)
			}
		}},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(raw.Size())
			debug.FreeOSMemory() // so the reset starts from what is live
			resetPeakRSS()
			for b.Loop() {
				s.run(b)
			}
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
		})
	}
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine it measures the work better than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0+).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// spoolGenerated spools what gen writes, without holding it in memory.
func spoolGenerated(b *testing.B, gen func(w io.Writer) error) *SpoolFile {
	b.Helper()
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriter(pw)
		err := gen(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	sf, err := Spool(context.Background(), pr, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sf.Close() })
	return sf
}

const benchHeader = "From: Jane Doe <jane@contoso.com>\r\nTo: claims@partner.example\r\n" +
	"Subject: EX25194 outage evidence\r\nDate: Mon, 17 Feb 2025 09:30:00 +0100\r\n" +
	"Message-ID: <bench@contoso.com>\r\nMIME-Version: 1.0\r\n"

// writeTextMail writes a text mail: html as a text/plain and a text/html
// alternative, as mail clients send it.
func writeTextMail(w io.Writer, html []byte) error {
	text := mailText(html)
	_, err := fmt.Fprintf(w, "%sContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"+
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n--alt--\r\n", benchHeader, text, html)
	return err
}

// mailText is the plain-text alternative of html, near enough.
func mailText(html []byte) []byte {
	return bytes.ReplaceAll(html, []byte("<"), []byte(" "))
}

// writeAttachmentMail writes a mail with one size-byte attachment of
// incompressible bytes (as PDFs, images and Office files mostly are),
// base64-encoded in 76-character lines.
func writeAttachmentMail(w io.Writer, size int64) error {
	if _, err := fmt.Fprintf(w, "%sContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"+
		"--mix\r\nContent-Type: text/plain\r\n\r\nThe outage report is attached.\r\n"+
		"--mix\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n", benchHeader); err != nil {
		return err
	}
	rnd := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 57*1024) // 57 bytes make one 76-character line
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(chunk)))
	for size > 0 {
		n := min(int64(len(chunk)), size)
		rnd.Read(chunk[:n])
		base64.StdEncoding.Encode(enc, chunk[:n])
		e := enc[:base64.StdEncoding.EncodedLen(int(n))]
		for len(e) > 0 {
			l := min(76, len(e))
			if _, err := w.Write(e[:l]); err != nil {
				return err
			}
			if _, err := io.WriteString(w, "\r\n"); err != nil {
				return err
			}
			e = e[l:]
		}
		size -= n
	}
	_, err := io.WriteString(w, "--mix--\r\n")
	return err
}

// flateWriters keeps flate writers for reuse: a new one allocates and
// clears about 1 MB, more work than compressing a small file, and a Deflate
// bundle writer would pool them too.
var flateWriters sync.Pool

type pooledFlate struct{ *flate.Writer }

// newPooledFlate is a zip.Compressor at BestSpeed, the fast level.
func newPooledFlate(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := flateWriters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledFlate{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	return pooledFlate{fw}, err
}

func (p pooledFlate) Close() error {
	err := p.Writer.Close()
	flateWriters.Put(p.Writer)
	return err
}
