package evidence

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// parseFileForBench parses the message in path b.N times and reports the
// peak resident memory one parse took, the figure DefaultMaxBytes and the
// streaming parse are chosen by.
func parseFileForBench(b *testing.B, path string, opts *ParseOptions, wantTruncated bool) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	var peak int64
	for b.Loop() {
		b.StopTimer()
		debug.FreeOSMemory()
		canMeasure := clearVmHWM()
		b.StartTimer()
		facts, err := Parse(f, st.Size(), opts)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if facts.Truncated != wantTruncated || len(facts.Attachments) != 1 {
			b.Fatalf("Parse(%s): Truncated = %v, %d attachments; want %v, 1", path, facts.Truncated, len(facts.Attachments), wantTruncated)
		}
		if p, ok := vmHWM(); ok && canMeasure && p > peak {
			peak = p
		}
		b.StartTimer()
	}
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(peak)/float64(st.Size()), "peak-RSS/size")
	}
}

// BenchmarkParseFull measures the in-memory parse of messages of several
// sizes, each one base64 attachment: peak-RSS/size is the multiple
// DefaultMaxBytes is chosen by.
func BenchmarkParseFull(b *testing.B) {
	for _, mib := range []int64{4, 16, 32} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			// base64 grows the attachment by 4/3 (plus line breaks).
			path, _ := attachmentMessageFile(b, mib<<20*3/4-64<<10)
			parseFileForBench(b, path, &ParseOptions{MaxBytes: 64 << 20}, false)
		})
	}
}

// BenchmarkParseStream measures the streaming parse of a message with a
// 100 MiB attachment (about 137 MiB encoded). The requirement is a peak
// resident set well under 150 MiB; it is flat in the attachment's size.
func BenchmarkParseStream(b *testing.B) {
	path, _ := attachmentMessageFile(b, 100<<20)
	parseFileForBench(b, path, nil, true)
}

// BenchmarkRenderHTML measures rendering HTML of growing size, plain and
// deeply nested: MB/s stays flat as the size grows (linear), and the
// largest size is the most renderHTML accepts (maxHTMLRender).
func BenchmarkRenderHTML(b *testing.B) {
	for _, size := range []int{maxHTMLRender / 32, maxHTMLRender / 4, maxHTMLRender} {
		para := strings.Repeat("<p>Exchange Online was <b>down</b> for <a href=\"https://example.com/x\">5 hours</a>.</p>\n", size/90)
		nested := strings.Repeat("<div>", size/10) + "deep" + strings.Repeat("</div>", size/10)
		for _, c := range []struct{ name, html string }{{"paragraphs", para}, {"nested-divs", nested}} {
			b.Run(fmt.Sprintf("%s-%dKiB", c.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(c.html)))
				b.ReportAllocs()
				for b.Loop() {
					_ = renderHTML(c.html, func(string) {})
				}
			})
		}
	}
}
