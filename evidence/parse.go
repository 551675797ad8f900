package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// The defaults of ParseOptions.
const (
	// DefaultMaxBytes is the largest message parsed in full. enmime holds
	// the whole message in memory: BenchmarkParseFull measured a peak
	// resident set of 3.6 to 3.7 times the message's size (61 MiB for
	// 16 MiB, 117 MiB for 32 MiB). At 16 MiB a few parses can run side by
	// side in well under 300 MiB, and a larger message loses little by
	// being streamed: its header, first text part and attachment digests
	// are still read.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxDepth is how deep message/rfc822 parts are followed.
	DefaultMaxDepth = 32
	// DefaultMaxOriginals is how many message/rfc822 parts are parsed, in
	// the message and all the originals inside it together.
	DefaultMaxOriginals = 100
	// DefaultMaxParts is how many MIME entities of one message are read.
	// Extract walks as many, so that it accepts whatever Parse read.
	DefaultMaxParts = 20000
	// DefaultBudget is how long one Parse call may take, originals
	// included. Every hostile shape of issue 16 parses in well under a
	// second on two cores; the budget is for the quadratic path not yet
	// found, which should cost one message seconds, not the poller hours.
	// The parse then stops waiting, but the in-memory parser (enmime)
	// takes no context: its call is abandoned and keeps running, using
	// a core, until enmime returns. enmime runs in one slot per core
	// (enmimeSlotCount), so no more calls than that are ever left
	// running; while maxAbandoned (two) are, messages are streamed
	// instead.
	DefaultBudget = 5 * time.Second
)

// ParseOptions tunes Parse. A nil *ParseOptions, or a zero field, means
// the default.
type ParseOptions struct {
	// MaxBytes is the largest message parsed in full in memory. A larger
	// one is streamed: its header, first text part and every attachment's
	// size and digest are read, and Facts.Truncated is set.
	MaxBytes int64
	// MaxDepth bounds how deep originals (message/rfc822 parts) nest.
	// Deeper ones are listed as attachments only, with a warning.
	MaxDepth int
	// MaxOriginals bounds how many originals one Parse call parses, at
	// all depths together. Further ones are listed as attachments only.
	MaxOriginals int
	// MaxParts bounds the MIME entities (parts and the multiparts holding
	// them) read per message, in either parse. Further ones are skipped
	// with a warning.
	MaxParts int
	// Budget bounds the time one Parse call takes. A parse that runs out
	// of it stops where it is and sets Facts.TooComplex; re-judging the
	// message later parses it afresh.
	Budget time.Duration
}

// WithDefaults returns the options in force: o's, each zero field (or all,
// for a nil o) set to its default.
func (o *ParseOptions) WithDefaults() ParseOptions {
	var r ParseOptions
	if o != nil {
		r = *o
	}
	if r.MaxBytes <= 0 {
		r.MaxBytes = DefaultMaxBytes
	}
	if r.MaxDepth <= 0 {
		r.MaxDepth = DefaultMaxDepth
	}
	if r.MaxOriginals <= 0 {
		r.MaxOriginals = DefaultMaxOriginals
	}
	if r.MaxParts <= 0 {
		r.MaxParts = DefaultMaxParts
	}
	if r.Budget <= 0 {
		r.Budget = DefaultBudget
	}
	return r
}

// Limits that need no tuning: they only stop hostile input.
const (
	maxWarnings       = 100
	maxStreamText     = 4 << 20 // bytes of the first text part read when streaming
	maxMultipartDepth = 64      // nested multipart/* entities read
	// enmime links each part to the end of its siblings' list and runs
	// each byte through one reader per nesting level: 10,000 parts took
	// 1.3 s and 1,000 nested multiparts 1.4 s, where the streaming parse
	// is linear (0.25 s for 10,000). Messages with more than these markers
	// (see countMIMEMarkers) are streamed.
	maxFullParseDashLines  = 2000
	maxFullParseMultiparts = 200
)

// panicWarning starts the warning recorded when the last-resort recover
// catches a panic; the fuzz target fails on it.
const panicWarning = "internal error (a bug; please report it)"

// Parse reads one raw message of size bytes from raw and returns its
// facts. The error is only for a failure to read raw: mail that is bad in
// any way gives Facts with Warnings, and Malformed when not even a header
// block could be read. Parse is safe for concurrent use.
func Parse(raw io.ReaderAt, size int64, opts *ParseOptions) (*Facts, error) {
	if raw == nil {
		return nil, errors.New("evidence: parse: nil reader")
	}
	if size < 0 {
		return nil, fmt.Errorf("evidence: parse: negative size %d", size)
	}
	rec := &recordingReaderAt{r: raw}
	run := newParseRun(opts)
	f := run.parse(rec, nil, size, 0, false)
	if rec.err != nil {
		return nil, fmt.Errorf("evidence: parse: read message: %w", rec.err)
	}
	run.finish(f)
	return f, nil
}

// ParseBytes is Parse for a message held in memory. It reads b in place,
// where Parse would copy the message into memory first, and does not
// change it; b must not change during the call.
func ParseBytes(b []byte, opts *ParseOptions) (*Facts, error) {
	run := newParseRun(opts)
	run.borrowed = b
	f := run.parseBytes(b, 0, false)
	run.finish(f)
	return f, nil
}

// recordingReaderAt keeps the first real read error, which the parsers
// below would otherwise take for bad mail.
type recordingReaderAt struct {
	r   io.ReaderAt
	err error
}

func (r *recordingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// parseRun is the state one Parse call shares with the originals it
// parses.
type parseRun struct {
	opts      ParseOptions
	originals int   // originals parsed so far
	budget    int64 // bytes of originals that may still be parsed in memory
	deadline  time.Time
	expired   bool   // the deadline passed: the parse stopped early
	borrowed  []byte // the caller's memory, which the parse reads in place
	refused   string // why an original inside an original was not parsed
}

// newParseRun starts the run of one Parse call with opts (nil: defaults).
func newParseRun(opts *ParseOptions) *parseRun {
	o := opts.WithDefaults()
	return &parseRun{opts: o, budget: o.MaxBytes, deadline: time.Now().Add(o.Budget)}
}

// over reports whether the run is out of time. It is checked between
// steps whose cost is bounded (a part, an original, a header block), so
// a parse overruns its budget by one step at most; enmime's one big step
// is cut off by readParts.
func (run *parseRun) over() bool {
	if !run.expired && time.Now().After(run.deadline) {
		run.expired = true
	}
	return run.expired
}

// finish marks the facts of a run that ran out of time, and says in them
// which bound an original deep inside hit.
func (run *parseRun) finish(f *Facts) {
	if run.refused != "" {
		f.Warnings = append(f.Warnings, run.refused)
	}
	if run.expired {
		f.TooComplex = true
		f.Warnings = append(f.Warnings, fmt.Sprintf("the parse ran out of its %v budget: the message is too complex to read in full; re-judge it later, or read the bundle by hand", run.opts.Budget))
	}
}

// builder collects the facts of one message.
type builder struct {
	run     *parseRun
	f       *Facts
	depth   int // message/rfc822 nesting of this message
	parts   int
	warned  map[string]bool
	dropped int // warnings over maxWarnings
	plain   []string
	html    []string
	gotText bool // streaming: the first text part has been read
	headers int  // header fields read
	elided  *elision
	copyBuf []byte // see copyBuffer
}

// copyBuffer is the buffer the attachments are hashed through: io.Copy
// would allocate 32 KiB per part, 640 MB of garbage for 20,000 parts.
func (b *builder) copyBuffer() []byte {
	if b.copyBuf == nil {
		b.copyBuf = make([]byte, 32<<10)
	}
	return b.copyBuf
}

func (b *builder) warn(s string) {
	if len(b.f.Warnings) >= maxWarnings {
		b.dropped++
		return
	}
	b.f.Warnings = append(b.f.Warnings, s)
}

// warnOnce records s the first time a given key is seen.
func (b *builder) warnOnce(key, s string) {
	if b.warned == nil {
		b.warned = map[string]bool{}
	}
	if !b.warned[key] {
		b.warned[key] = true
		b.warn(s)
	}
}

// parse parses one message (the top level or an original) at the given
// depth; stream forces the streaming parse.
//
// mem, when not nil, holds raw's bytes in memory: a full parse then reads
// them in place instead of a copy.
func (run *parseRun) parse(raw io.ReaderAt, mem []byte, size int64, depth int, stream bool) *Facts {
	b := &builder{run: run, f: &Facts{}, depth: depth}
	defer func() {
		if r := recover(); r != nil {
			b.warn(fmt.Sprintf("%s: %v", panicWarning, r))
		}
		if b.dropped > 0 {
			b.f.Warnings = append(b.f.Warnings, fmt.Sprintf("%d more warnings not recorded", b.dropped))
		}
	}()

	if run.over() {
		return b.f // Parse's caller marks the facts TooComplex
	}
	if conv, note, ok := lineBreaksForParsing(raw, size, run.opts.MaxBytes); note != "" {
		if !ok {
			b.warn(note)
			b.f.Malformed = true
			return b.f
		}
		b.warn(note)
		raw, mem, size = bytes.NewReader(conv), conv, int64(len(conv))
	}
	hs := scanHeaderBlock(raw, size)
	for _, n := range hs.notes {
		b.warn(n)
	}
	body := func() io.Reader { return hs.reader(raw, size) }
	msgSize := size - hs.start

	reason := ""
	switch {
	case stream:
		reason = "the original is larger than what is left of the in-memory budget"
	case msgSize > run.opts.MaxBytes:
		reason = fmt.Sprintf("the message is %d bytes, over the %d-byte limit for a full parse", msgSize, run.opts.MaxBytes)
	default:
		var err error
		if mem != nil && hs.sepAt < 0 {
			err = b.fullBytes(mem[hs.start:])
		} else {
			err = b.full(body(), msgSize)
		}
		if errors.Is(err, errBudget) {
			// No time left for a streamed read either.
			b.reset()
			b.finish()
			return b.f
		}
		if err != nil {
			b.reset()
			var tc *tooComplexError
			if errors.As(err, &tc) {
				reason = tc.reason
			} else {
				reason = fmt.Sprintf("the MIME structure could not be parsed (%v)", clip(err.Error(), 200))
			}
		}
	}
	if reason != "" {
		b.f.Truncated = true
		b.warn("only the header, the first text part and the attachments' digests were read: " + reason)
		b.stream(body())
	}
	b.finish()
	return b.f
}

// reset forgets what a failed full parse collected before streaming.
func (b *builder) reset() {
	warnings := b.f.Warnings
	*b.f = Facts{Warnings: warnings}
	b.parts, b.plain, b.html, b.gotText, b.headers = 0, nil, nil, false, 0
}

// fullParser reads the MIME tree with the bodies left transfer-encoded:
// parse_transfer.go decodes them, so that an attachment is hashed as the
// sender's file and not as enmime's charset conversion of it.
var fullParser = enmime.NewParser(
	enmime.RawContent(true),
	enmime.SkipMalformedParts(true),
	enmime.MultipartWOBoundaryAsSinglePart(true),
	enmime.MaxStoredPartErrors(16),
)

// tooComplexError says why enmime is not given a message: it would take
// too long over it (see maxFullParseDashLines).
type tooComplexError struct{ reason string }

func (e *tooComplexError) Error() string { return e.reason }

// checkComplexity refuses input with more MIME markers (see
// countMIMEMarkers) than enmime is given.
func checkComplexity(input []byte) error {
	dashes, multiparts := countMIMEMarkers(input)
	switch {
	case dashes > maxFullParseDashLines:
		return &tooComplexError{fmt.Sprintf("the message has %d boundary-like lines, more than the %d parsed in memory", dashes, maxFullParseDashLines)}
	case multiparts > maxFullParseMultiparts:
		return &tooComplexError{fmt.Sprintf("the message names more than %d multipart entities", maxFullParseMultiparts)}
	}
	if field, bound := overMediaTypeBound(input); field != "" {
		return &tooComplexError{fmt.Sprintf("%s %s, over what is given to the in-memory parser", field, bound)}
	}
	return nil
}

// full parses the message, about size bytes, in memory with enmime, its
// large attachments elided while enmime splits it (see parse_elide.go).
// What enmime is given is checked first: a *tooComplexError refuses it.
// The markers are counted after the elision, which leaves them all (a
// base64 body holds no '-', and enmime's cost does not depend on what a
// body holds), so the multi-megabyte bodies need not be scanned.
func (b *builder) full(r io.Reader, size int64) error {
	// One allocation of the right size (the header repair may add a line
	// break): io.ReadAll's doubling cost a tenth of the parse in copies
	// and cleared memory.
	buf := bytes.NewBuffer(make([]byte, 0, size+2+bytes.MinRead))
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	return b.fullBytes(buf.Bytes())
}

// fullBytes is full for a message in memory; it does not change data.
func (b *builder) fullBytes(data []byte) error {
	if e := elide(data); e != nil {
		if err := checkComplexity(e.data); err != nil {
			return err // the whole message has the same markers, and more
		}
		before := b.save()
		b.elided = e
		err := b.fullFrom(e.data)
		b.elided = nil
		if err == nil && e.complete() {
			return nil
		}
		b.restore(before) // enmime split it otherwise: parse it as it is
	}
	if err := checkComplexity(data); err != nil {
		return err
	}
	return b.fullFrom(data)
}

// builderState is what a full parse changes in a builder and its run.
type builderState struct {
	b   builder
	f   Facts
	run parseRun
}

func (b *builder) save() builderState {
	s := builderState{b: *b, f: *b.f, run: *b.run}
	s.b.warned = maps.Clone(b.warned)
	return s
}

func (b *builder) restore(s builderState) {
	f, run := b.f, b.run
	*b, *f, *run = s.b, s.f, s.run
	b.f, b.run = f, run
}

// fullFrom parses input: the message, or the message with elided
// attachments.
func (b *builder) fullFrom(input []byte) error {
	root, err := b.run.readParts(input)
	if err != nil {
		return err
	}
	h := header(root.Header)
	b.headers = len(h)
	readHeaderFacts(h, b.f, b.warn)
	plain, html := b.walkTree(root, 0, "text/plain")
	b.plain, b.html = plain, html
	return nil
}

// walkTree visits an enmime part tree, returning the body texts under p.
// In a multipart/alternative only the first plain and the first HTML
// rendition count, since the others say the same.
func (b *builder) walkTree(p *enmime.Part, mdepth int, defaultType string) (plain, html []string) {
	if p == nil {
		return nil, nil
	}
	if b.parts >= b.run.opts.MaxParts {
		b.warnOnce("parts", fmt.Sprintf("more than %d MIME parts: the rest were not read", b.run.opts.MaxParts))
		return nil, nil
	}
	if b.run.over() {
		return nil, nil
	}
	b.parts++
	// Sorted: enmime reports some errors in map order (malformed
	// Content-Type parameters), and the facts must not vary between two
	// parses, or a bundle rebuilt after a crash would differ from the one
	// stored.
	partWarnings := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		if e.Name == enmime.ErrorMissingContentType {
			continue // RFC 2046 defaults apply; not worth a warning
		}
		partWarnings = append(partWarnings, fmt.Sprintf("part %s: %s: %s", p.PartID, e.Name, clip(e.Detail, 200)))
	}
	slices.Sort(partWarnings)
	for _, w := range partWarnings {
		b.warn(w)
	}
	pi := describePart(header(p.Header), defaultType, b.warnOnce)
	if p.FirstChild == nil && strings.HasPrefix(pi.mediaType, "multipart/") {
		// No boundary, or none found: enmime leaves the body in Content
		// or, having looked for parts, in Epilogue.
		body := p.Content
		if len(body) == 0 {
			body = p.Epilogue
		}
		if len(body) > 0 {
			b.warn(fmt.Sprintf("part %s: %s without parts; read as text", p.PartID, pi.mediaType))
			pi.mediaType = "text/plain"
			b.leaf(pi, p.PartID, body, nil)
			return b.takeText()
		}
	}
	if p.FirstChild == nil && !strings.HasPrefix(pi.mediaType, "multipart/") {
		b.leaf(pi, p.PartID, p.Content, nil)
		return b.takeText()
	}
	if mdepth >= maxMultipartDepth {
		b.warnOnce("mdepth", fmt.Sprintf("multipart entities nested deeper than %d: the rest were not read", maxMultipartDepth))
		return nil, nil
	}
	childDefault := "text/plain"
	if pi.mediaType == "multipart/digest" {
		childDefault = "message/rfc822" // RFC 2046 section 5.1.5
	}
	alt := pi.mediaType == "multipart/alternative"
	for c := p.FirstChild; c != nil; c = c.NextSibling {
		pl, ht := b.walkTree(c, mdepth+1, childDefault)
		if alt {
			if len(plain) == 0 {
				plain = pl
			}
			if len(html) == 0 {
				html = ht
			}
			continue
		}
		plain = append(plain, pl...)
		html = append(html, ht...)
	}
	return plain, html
}

// takeText hands the text a leaf just produced to its caller.
func (b *builder) takeText() (plain, html []string) {
	plain, html = b.plain, b.html
	b.plain, b.html = nil, nil
	return plain, html
}

// partInfo is what the parse needs from a part's header.
type partInfo struct {
	mediaType   string // lower-case, without parameters
	charset     string
	disposition string // lower-case
	filename    string // decoded
	cte         string
	boundary    string // of a multipart
}

// describePart reads a part's Content-* fields. A missing or unreadable
// Content-Type means defaultType (RFC 2045 section 5.2). A media-type
// field over the bounds of boundMediaType is read up to them, and
// bounded is called with a warning naming the bound.
func describePart(h header, defaultType string, bounded func(key, warning string)) partInfo {
	pi := partInfo{mediaType: defaultType, cte: h.get("Content-Transfer-Encoding")}
	ctField, cdField := h.get("Content-Type"), h.get("Content-Disposition")
	for _, f := range []struct {
		name string
		v    *string
	}{{"Content-Type", &ctField}, {"Content-Disposition", &cdField}} {
		read, bound := boundMediaType(*f.v)
		if bound != "" {
			*f.v = read
			bounded(f.name+bound, fmt.Sprintf("%s field %s: only what comes before the bound was read", f.name, bound))
		}
	}
	var params map[string]string
	if ct := strings.TrimSpace(ctField); ct != "" {
		mt, p, cut, err := parseMediaType(ct)
		if cut {
			bounded("Content-Type repair", fmt.Sprintf("a malformed Content-Type field was repaired over its first %d bytes only", maxRepairLen))
		}
		if err == nil && strings.Contains(mt, "/") {
			pi.mediaType, params = strings.ToLower(mt), p
		}
	}
	pi.charset, pi.boundary = params["charset"], params["boundary"]
	var dparams map[string]string
	if cd := strings.TrimSpace(cdField); cd != "" {
		d, p, cut, err := parseMediaType(cd)
		if cut {
			bounded("Content-Disposition repair", fmt.Sprintf("a malformed Content-Disposition field was repaired over its first %d bytes only", maxRepairLen))
		}
		if err == nil {
			pi.disposition, dparams = strings.ToLower(d), p
		} else if i := strings.IndexByte(cd, ';'); i > 0 {
			pi.disposition = strings.ToLower(strings.TrimSpace(cd[:i]))
		} else {
			pi.disposition = strings.ToLower(cd)
		}
	}
	name := rfc2231Param(cdField, "filename")
	if name == "" {
		name = dparams["filename"]
	}
	if name == "" {
		name = rfc2231Param(ctField, "name")
	}
	if name == "" {
		name = params["name"]
	}
	if name != "" {
		// Outlook and others put RFC 2047 words inside the quoted
		// parameter, which RFC 2231 does not provide for.
		name = decodeHeaderText(name, "filename", func(string) {})
	}
	pi.filename = name
	return pi
}

// parseMediaType parses a media-type field: with mime.ParseMediaType,
// linear in its length, when the field is well formed, else with enmime's
// repairs over its first maxRepairLen bytes (cut says so), since they
// cost the length times the parameters.
func parseMediaType(v string) (mt string, params map[string]string, cut bool, err error) {
	if mt, params, err := mime.ParseMediaType(v); err == nil {
		return mt, params, false, nil
	}
	if len(v) > maxRepairLen {
		v, cut = v[:maxRepairLen], true
	}
	mt, params, _, err = mediatype.Parse(v)
	return mt, params, cut, err
}

func (pi partInfo) isOriginal() bool {
	return pi.mediaType == "message/rfc822" || pi.mediaType == "message/global"
}

func (pi partInfo) isBodyText() bool {
	return (pi.mediaType == "text/plain" || pi.mediaType == "text/html") && pi.disposition != "attachment"
}

// partLabel names a part in warnings.
func partLabel(id string, pi partInfo) string {
	if pi.filename != "" {
		return fmt.Sprintf("part %s (%q)", id, clip(pi.filename, 80))
	}
	return "part " + id
}

// leaf handles a part that holds data. In a full parse content holds the
// part's transfer-encoded body; when streaming, body reads it.
func (b *builder) leaf(pi partInfo, id string, content []byte, body io.Reader) {
	if real, ok := b.elided.body(content); ok {
		if pi.isOriginal() || pi.isBodyText() || normalizeCTE(pi.cte) != "base64" {
			b.elided.bad = true // not the attachment the scan saw
			return
		}
		content = real
	}
	streaming := content == nil && body != nil
	if body == nil {
		body = bytes.NewReader(content)
	}
	label := partLabel(id, pi)
	dec, known := newTransferDecoder(pi.cte, body)
	if !known {
		b.warn(fmt.Sprintf("%s: unknown Content-Transfer-Encoding %q; read as is", label, clip(pi.cte, 40)))
	}
	switch {
	case pi.isOriginal():
		b.original(pi, label, content, dec, known)
	case pi.isBodyText():
		if streaming && b.gotText {
			return // only the first text part is read when streaming
		}
		b.gotText = true
		var r io.Reader = dec
		if streaming {
			r = io.LimitReader(dec, maxStreamText+1)
		}
		text, err := io.ReadAll(r)
		if err != nil {
			b.warn(fmt.Sprintf("%s: reading: %v", label, err))
		}
		if streaming && len(text) > maxStreamText {
			text = text[:maxStreamText]
			b.warn(fmt.Sprintf("%s: text longer than %d bytes; the rest was not read", label, maxStreamText))
		}
		b.transferProblems(label, dec)
		s := decodeBodyText(text, pi.mediaType, pi.charset, func(w string) { b.warn(label + ": " + w) })
		if pi.mediaType == "text/html" {
			b.html = append(b.html, s)
		} else {
			b.plain = append(b.plain, s)
		}
	default:
		h := sha256.New()
		n, err := io.CopyBuffer(h, dec, b.copyBuffer())
		if err != nil {
			b.warn(fmt.Sprintf("%s: reading: %v", label, err))
		}
		b.transferProblems(label, dec)
		b.f.Attachments = append(b.f.Attachments, Attachment{
			Name:        pi.filename,
			ContentType: pi.mediaType,
			Size:        n,
			SHA256:      hex.EncodeToString(h.Sum(nil)),
		})
	}
}

func (b *builder) transferProblems(label string, dec transferDecoder) {
	for _, p := range dec.problems() {
		b.warn(label + ": " + p)
	}
}

// original handles a message/rfc822 part: it is listed as an attachment
// (it is one) and, within the limits, parsed as an Original.
func (b *builder) original(pi partInfo, label string, content []byte, dec transferDecoder, known bool) {
	opts := b.run.opts
	var (
		raw      []byte
		complete = true
		err      error
	)
	switch {
	case content != nil && known && isIdentityCTE(pi.cte):
		raw = content // no copy: the bytes are already the message
	case content != nil:
		raw, err = io.ReadAll(dec)
	default:
		raw, err = io.ReadAll(io.LimitReader(dec, opts.MaxBytes+1))
		complete = int64(len(raw)) <= opts.MaxBytes
	}
	if err != nil {
		b.warn(fmt.Sprintf("%s: reading: %v", label, err))
	}

	hash := sha256.New()
	hash.Write(raw)
	size := int64(len(raw))
	att := func() {
		b.transferProblems(label, dec)
		b.f.Attachments = append(b.f.Attachments, Attachment{
			Name: pi.filename, ContentType: pi.mediaType, Size: size, SHA256: hex.EncodeToString(hash.Sum(nil)),
		})
	}

	refuse := ""
	switch {
	case b.depth+1 > opts.MaxDepth:
		refuse = fmt.Sprintf("originals nested deeper than %d levels are not parsed", opts.MaxDepth)
	case b.run.originals >= opts.MaxOriginals:
		refuse = fmt.Sprintf("more than %d originals: the rest are not parsed", opts.MaxOriginals)
	}
	if refuse != "" {
		b.warnOnce(refuse, label+": "+refuse)
		if b.depth > 0 && b.run.refused == "" {
			// Said in the top-level facts too: an analyst reads those.
			b.run.refused = fmt.Sprintf("an original %d levels down: %s", b.depth, refuse)
		}
		if !complete {
			n, _ := io.Copy(hash, dec)
			size += n
		}
		att()
		return
	}
	b.run.originals++

	if complete {
		att()
		child := b.run.parseNested(raw, b.depth+1)
		b.f.Originals = append(b.f.Originals, Original{Raw: raw, Facts: child})
		return
	}
	// Too big to hold: stream it, hashing as it goes.
	b.warn(fmt.Sprintf("%s: an original over %d bytes is not kept; its facts come from a streamed read", label, opts.MaxBytes))
	counter := &countingWriter{}
	rest := io.TeeReader(dec, io.MultiWriter(hash, counter))
	child := b.run.streamNested(io.MultiReader(bytes.NewReader(raw), rest), b.depth+1)
	size += counter.n
	att()
	b.f.Originals = append(b.f.Originals, Original{Facts: child})
}

func isIdentityCTE(cte string) bool {
	switch normalizeCTE(cte) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// parseNested parses an original held in memory, in full while the
// run's budget lasts: each nesting level would otherwise hold another
// copy of the message.
func (run *parseRun) parseNested(raw []byte, depth int) *Facts {
	stream := int64(len(raw)) > run.budget
	if !stream {
		run.budget -= int64(len(raw))
	}
	return run.parseBytes(raw, depth, stream)
}

// parseBytes is parse for a message held in memory, read in place.
func (run *parseRun) parseBytes(b []byte, depth int, stream bool) *Facts {
	return run.parse(bytes.NewReader(b), b, int64(len(b)), depth, stream)
}

// finish turns the collected parts into the text facts.
func (b *builder) finish() {
	f := b.f
	f.Text = strings.Join(nonEmpty(b.plain), "\n\n")
	var rendered []string
	seen := map[string]bool{}
	var urls []string
	add := func(list []string) {
		for _, u := range list {
			if len(urls) >= maxURLs {
				b.warnOnce("urls", fmt.Sprintf("more than %d links: the rest were not recorded", maxURLs))
				return
			}
			if !seen[u] {
				seen[u] = true
				urls = append(urls, u)
			}
		}
	}
	for _, h := range b.html {
		rendered = append(rendered, renderHTML(h, b.warn))
		add(htmlLinks(h))
	}
	f.HTMLText = strings.Join(nonEmpty(rendered), "\n\n")
	add(textURLs(f.Text))
	add(textURLs(f.HTMLText))
	f.URLs = urls
	if b.headers == 0 && !b.run.expired {
		f.Malformed = true
		b.warn("no header fields could be read: not an email message")
	}
}

func nonEmpty(list []string) []string {
	out := list[:0:0]
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
