package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

// params is a Content-Disposition of n parameters, or of n RFC 2231
// segments of one filename.
func params(n int, seg bool) string {
	var b strings.Builder
	b.WriteString("attachment")
	for i := range n {
		if seg {
			b.WriteString("; filename*" + strconv.Itoa(i) + "*=%41")
		} else {
			b.WriteString("; p" + strconv.Itoa(i) + "=v")
		}
	}
	return b.String()
}

func TestBoundMediaType(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantBound string // substring; "" for none
		wantLen   int    // -1: unchanged
	}{
		{"plain RFC 2045 field", "text/plain; charset=utf-8", "", -1},
		{"64 parameters are read", params(64, false), "", -1},
		{"65 parameters are cut before the 65th", params(65, false), "more than 64 parameters", len(params(64, false))},
		{"RFC 2231 section 3 segments count as parameters", params(100, true), "RFC 2231 segments", len(params(64, true))},
		{"a long value is cut at the length bound", "text/plain; name=\"" + strings.Repeat("a", 5000) + "\"", "longer than 4096 bytes", maxMediaTypeLen},
		{"empty", "", "", -1},
	}
	for _, tt := range tests {
		got, bound := boundMediaType(tt.in)
		if tt.wantBound == "" && bound != "" || !strings.Contains(bound, tt.wantBound) {
			t.Errorf("%s: bound = %q, want it to contain %q", tt.name, bound, tt.wantBound)
		}
		want := len(tt.in)
		if tt.wantLen >= 0 {
			want = tt.wantLen
		}
		if len(got) != want {
			t.Errorf("%s: read %d bytes, want %d", tt.name, len(got), want)
		}
	}
}

func TestOverMediaTypeBound(t *testing.T) {
	fold := func(v string) string { return strings.ReplaceAll(v, "; ", ";\r\n ") }
	tests := []struct {
		name, msg, wantField string
	}{
		{"ordinary message", "From: a@contoso.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n", ""},
		{"folded Content-Type of 65 parameters (RFC 5322 section 2.2.3 folding)", "Content-Type: " + fold(params(65, false)) + "\r\n\r\n", "Content-Type"},
		{"lower-case field name in a part header", "Subject: x\r\n\r\n--b\r\ncontent-disposition: " + fold(params(100, true)) + "\r\n\r\n", "Content-Disposition"},
		{"64 folded parameters pass", "Content-Type: " + fold(params(64, false)) + "\r\nX: y\r\n\r\n", ""},
		{"parameters of the next field do not count", "Content-Type: text/plain\r\nX-Other: " + strings.Repeat(";", 100) + "\r\n\r\n", ""},
		{"1,900 parts each within the bounds, too costly together", strings.Repeat("--b\r\nContent-Type: "+fold(params(63, false))+strings.Repeat(" ", 3000)+"\r\n\r\nx\r\n", 1900), "Content-Type and Content-Disposition fields"},
		{"1,900 ordinary parts", strings.Repeat("--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\r\nx\r\n", 1900), ""},
	}
	for _, tt := range tests {
		field, bound := overMediaTypeBound([]byte(tt.msg))
		if tt.wantField == "" && field != "" || !strings.Contains(field, tt.wantField) {
			t.Errorf("%s: overMediaTypeBound = %q (%s), want %q", tt.name, field, bound, tt.wantField)
		}
	}
}

func TestParseBudget(t *testing.T) {
	plain := []byte("From: Tom Baker <tom.baker@contoso.com>\r\nSubject: EX315207\r\nDate: Mon, 23 Nov 2026 09:12:38 +0000\r\n\r\nhello\r\n")
	var parts strings.Builder
	parts.WriteString("From: tom.baker@contoso.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range 1500 {
		parts.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	parts.WriteString("--b--\r\n")
	tests := []struct {
		name   string
		msg    []byte
		budget time.Duration
		want   bool // TooComplex
	}{
		{"default budget reads a plain message", plain, 0, false},
		{"no time at all: too complex, not malformed", plain, time.Nanosecond, true},
		{"1,500 parts in a microsecond: cut off", []byte(parts.String()), time.Microsecond, true},
		{"1,500 parts with the default budget", []byte(parts.String()), 0, false},
	}
	for _, tt := range tests {
		f, err := ParseBytes(tt.msg, &ParseOptions{Budget: tt.budget})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if f.TooComplex != tt.want || f.Malformed {
			t.Errorf("%s: TooComplex = %v, Malformed = %v; want %v, false (warnings %q)", tt.name, f.TooComplex, f.Malformed, tt.want, f.Warnings)
		}
		if m := f.RulesMessage(); m.TooComplex != tt.want {
			t.Errorf("%s: RulesMessage().TooComplex = %v, want %v", tt.name, m.TooComplex, tt.want)
		}
		if tt.want && !strings.Contains(strings.Join(f.Warnings, "\n"), "budget") {
			t.Errorf("%s: warnings %q name no budget", tt.name, f.Warnings)
		}
	}
}

// TestAliases: a tail of the caller's message is copied before enmime,
// which may outlive the call, is given it; the parse's own copies are not.
func TestAliases(t *testing.T) {
	b := []byte("From: a@contoso.com\r\n\r\nhi")
	if !aliases(b[5:], b) || !aliases(b, b) {
		t.Error("aliases missed a tail of the caller's memory")
	}
	if aliases(bytes.Clone(b), b) || aliases(nil, b) {
		t.Error("aliases took a copy for the caller's memory")
	}
}

// TestCROnlyLines: RFC 5322 section 2.1 ends lines with CRLF; a message
// ending them with CR alone is read as if it did, with a warning.
func TestCROnlyLines(t *testing.T) {
	tests := []struct {
		name, msg  string
		wantSender string
		wantWarn   bool
	}{
		{"CR only", "From: Tom Baker <tom.baker@contoso.com>\rSubject: EX315207\r\rhello\r", "tom.baker@contoso.com", true},
		{"CRLF", "From: Tom Baker <tom.baker@contoso.com>\r\nSubject: EX315207\r\n\r\nhello\r\n", "tom.baker@contoso.com", false},
		{"LF only", "From: Tom Baker <tom.baker@contoso.com>\nSubject: EX315207\n\nhello\n", "tom.baker@contoso.com", false},
		{"CR only header, an LF later in the body", "From: tom.baker@contoso.com\r\rline\rline2\n", "tom.baker@contoso.com", true},
	}
	for _, tt := range tests {
		f, err := ParseBytes([]byte(tt.msg), nil)
		if err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(strings.Join(f.Warnings, "\n"), "lines end in a bare CR")
		if f.Sender != tt.wantSender || warned != tt.wantWarn {
			t.Errorf("%s: Sender %q, CR warning %v; want %q, %v (warnings %q)", tt.name, f.Sender, warned, tt.wantSender, tt.wantWarn, f.Warnings)
		}
	}
}

// TestReadPartsAbandoned: an enmime call still running at the deadline is
// left behind, the message is TooComplex, and while maxAbandoned such
// calls run no new one starts: the message is streamed instead.
func TestReadPartsAbandoned(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, maxAbandoned+1)
	stuck := func(io.Reader) (*enmime.Part, error) {
		entered <- struct{}{}
		<-release
		return nil, errors.New("released")
	}
	old := enmimeReadParts
	enmimeReadParts = stuck
	defer func() { enmimeReadParts = old }()

	msg := []byte("From: Tom Baker <tom.baker@contoso.com>\r\nSubject: EX315207\r\n\r\nhello\r\n")
	opts := &ParseOptions{Budget: 200 * time.Millisecond} // ample for the scans before enmime
	for i := range maxAbandoned {
		f, _ := ParseBytes(msg, opts)
		if !f.TooComplex || f.Malformed {
			t.Fatalf("parse %d with enmime stuck: TooComplex %v, Malformed %v; want true, false", i, f.TooComplex, f.Malformed)
		}
	}
	if n := abandonedCalls(); n != maxAbandoned {
		t.Fatalf("%d abandoned calls, want %d", n, maxAbandoned)
	}
	// No slot left: streamed, not stuck, and read in full.
	f, _ := ParseBytes(msg, opts)
	if f.TooComplex || f.Sender != "tom.baker@contoso.com" || !strings.Contains(strings.Join(f.Warnings, "\n"), "still in the in-memory parser") {
		t.Errorf("parse with every slot taken: TooComplex %v, Sender %q, warnings %q; want a streamed read", f.TooComplex, f.Sender, f.Warnings)
	}
	if len(entered) != maxAbandoned {
		t.Errorf("enmime was called %d times, want %d", len(entered), maxAbandoned)
	}
	close(release)
	waitSlotsFree()
}

// waitSlotsFree waits until every enmime call returned: a test that
// abandons calls leaves no slot taken for the next.
func waitSlotsFree() {
	for {
		enmimeSlots.Lock()
		n := enmimeSlots.running
		enmimeSlots.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReadPartsAbandonedConcurrently: with several workers parsing at
// once, all stuck in enmime, no more than enmimeSlotCount enmime calls are
// ever left running (issue 16: a check then an add let every worker
// start one). Run it with -race.
func TestReadPartsAbandonedConcurrently(t *testing.T) {
	release := make(chan struct{})
	var inCall, most atomic.Int32
	stuck := func(io.Reader) (*enmime.Part, error) {
		n := inCall.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inCall.Add(-1)
		return nil, errors.New("released")
	}
	old := enmimeReadParts
	enmimeReadParts = stuck
	defer func() { enmimeReadParts = old }()

	msg := []byte("From: Tom Baker <tom.baker@contoso.com>\r\nSubject: EX315207\r\n\r\nhello\r\n")
	opts := &ParseOptions{Budget: 200 * time.Millisecond}
	slots := int32(enmimeSlotCount())
	workers := 4 * int(slots)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			f, err := ParseBytes(msg, opts)
			if err != nil || f.Malformed || !f.TooComplex && f.Sender != "tom.baker@contoso.com" {
				t.Errorf("ParseBytes with enmime stuck = %v, Malformed %v, TooComplex %v, Sender %q; want too complex or streamed", err, f.Malformed, f.TooComplex, f.Sender)
			}
		})
	}
	wg.Wait()
	if n := abandonedCalls(); n > int(slots) {
		t.Errorf("%d abandoned calls running, want at most %d", n, slots)
	}
	if n := most.Load(); n > slots {
		t.Errorf("%d enmime calls ran at once, want at most %d", n, slots)
	}
	close(release)
	waitSlotsFree()
}

// TestAuthenticationResultsCapped: RFC 8601 section 5 has each server
// add its stamp at the top; beyond the topmost maxAuthenticationResults
// the fields are not kept, with a warning.
func TestAuthenticationResultsCapped(t *testing.T) {
	for _, n := range []int{1, maxAuthenticationResults, 5000} {
		var b strings.Builder
		b.WriteString("Authentication-Results: mx.adatum-csp.com; dmarc=pass header.from=contoso.com\r\n")
		for range n - 1 {
			b.WriteString("Authentication-Results: mx.adatum-csp.com; dmarc=fail header.from=contoso.com\r\n")
		}
		b.WriteString("From: tom.baker@contoso.com\r\n\r\nEX315207\r\n")
		f, _ := ParseBytes([]byte(b.String()), nil)
		want := min(n, maxAuthenticationResults)
		warned := strings.Contains(strings.Join(f.Warnings, "\n"), "Authentication-Results fields")
		if len(f.AuthenticationResults) != want || warned != (n > want) || !strings.Contains(f.AuthenticationResults[0], "dmarc=pass") {
			t.Errorf("%d fields: kept %d (topmost %q), warned %v; want the topmost %d", n, len(f.AuthenticationResults), f.AuthenticationResults[0], warned, want)
		}
	}
}

// TestParseMediaTypeRepairCut: a well-formed field is read whole; a
// malformed one is repaired over its first maxRepairLen bytes only.
func TestParseMediaTypeRepairCut(t *testing.T) {
	tests := []struct {
		name, v, wantType string
		wantCut           bool
	}{
		{"RFC 2045 field", "text/plain; charset=utf-8; " + strings.Repeat("x", 1000) + "=1", "text/plain", false},
		{"short malformed field repaired whole", "text/plain; charset=utf-8 ;=;\"x", "text/plain", false},
		{"long malformed field repaired in part", "application/pdf" + strings.Repeat(" ;=;\"x", 500), "application/pdf", true},
	}
	for _, tt := range tests {
		mt, _, cut, err := parseMediaType(tt.v)
		if err != nil || mt != tt.wantType || cut != tt.wantCut {
			t.Errorf("%s: parseMediaType = %q, cut %v, %v; want %q, cut %v", tt.name, mt, cut, err, tt.wantType, tt.wantCut)
		}
	}
}

// TestToAddressesCapped: a To of thousands of addresses is recorded up to
// maxToAddresses, with a warning; the manifest stays small.
func TestToAddressesCapped(t *testing.T) {
	for _, n := range []int{maxToAddresses, maxToAddresses + 1, 50000} {
		var sb strings.Builder
		sb.WriteString("From: jane@contoso.com\r\nSubject: EX315207\r\nTo: ")
		for i := range n {
			if i > 0 {
				sb.WriteString(",\r\n ")
			}
			fmt.Fprintf(&sb, "user%d@contoso.com", i)
		}
		sb.WriteString("\r\n\r\nbody\r\n")
		f, err := ParseBytes([]byte(sb.String()), nil)
		if err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(strings.Join(f.Warnings, "\n"), "To addresses: the first")
		if want := min(n, maxToAddresses); len(f.To) != want || warned != (n > maxToAddresses) {
			t.Errorf("To of %d: %d recorded, warned %v; want %d, %v", n, len(f.To), warned, want, n > maxToAddresses)
		}
	}
}

// TestAuthorsCapped: a From of thousands of addresses, in one field or
// many, records the first maxAuthors and counts the rest, which the rules
// then refuse to judge.
func TestAuthorsCapped(t *testing.T) {
	addrs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("user%d@contoso.com", i)
		}
		return out
	}
	tests := []struct {
		name    string
		header  string
		dropped int
	}{
		{"one field at the bound", "From: " + strings.Join(addrs(maxAuthors), ", ") + "\r\n", 0},
		{"one field of 50,000", "From: " + strings.Join(addrs(50000), ",\r\n ") + "\r\n", 50000 - maxAuthors},
		{"3,000 From fields", "From: " + strings.Join(addrs(3000), "\r\nFrom: ") + "\r\n", 3000 - maxAuthors},
	}
	for _, tt := range tests {
		f, err := ParseBytes([]byte(tt.header+"Subject: EX315207\r\n\r\nbody\r\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(strings.Join(f.Warnings, "\n"), "From addresses: the first 100")
		if len(f.Authors) != min(maxAuthors, len(f.Authors)+f.AuthorsDropped) || f.AuthorsDropped != tt.dropped || warned != (tt.dropped > 0) {
			t.Errorf("%s: %d authors, %d dropped, warned %v; want at most %d, %d dropped", tt.name, len(f.Authors), f.AuthorsDropped, warned, maxAuthors, tt.dropped)
		}
		if m := f.RulesMessage(); m.AuthorsDropped != f.AuthorsDropped {
			t.Errorf("%s: RulesMessage().AuthorsDropped = %d, want %d", tt.name, m.AuthorsDropped, f.AuthorsDropped)
		}
	}
}
