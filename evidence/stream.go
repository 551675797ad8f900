package evidence

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/jhillyerd/enmime/v2"
)

// The streaming parse, for messages too big to hold: go-message's
// textproto layer splits the MIME structure as the bytes go by, so memory
// stays flat whatever the size of an attachment. It works a layer below
// go-message's mail.Reader because that one converts every text/* part to
// UTF-8, attachments included, and an attachment must be hashed as the
// file the sender attached.

// Bounds on header blocks read while streaming. A full parse has the
// whole message in memory anyway; a stream must not let one header line
// take what the message's size did not.
const (
	maxStreamHeader     = 8 << 20 // the message's own header block
	maxStreamPartHeader = 4 << 20 // one part's header block, with the preamble before it
)

// streamNested parses an original that is read as a stream.
func (run *parseRun) streamNested(r io.Reader, depth int) *Facts {
	b := &builder{run: run, f: &Facts{Truncated: true}, depth: depth}
	defer func() {
		if rec := recover(); rec != nil {
			b.warn(fmt.Sprintf("%s: %v", panicWarning, rec))
		}
		if b.dropped > 0 {
			b.f.Warnings = append(b.f.Warnings, fmt.Sprintf("%d more warnings not recorded", b.dropped))
		}
		// The caller hashes what passes through r: read it all.
		_, _ = io.Copy(io.Discard, r)
	}()
	b.warn("only the header, the first text part and the attachments' digests were read: the original is too big to hold")
	b.stream(r)
	b.finish()
	return b.f
}

// stream reads a message from r without holding it.
func (b *builder) stream(r io.Reader) {
	guard := newHeaderGuard(r)
	guard.startHeader(maxStreamHeader)
	br := bufio.NewReaderSize(guard, 64<<10)
	h, err := enmime.ReadHeader(br, warnCollector{b})
	guard.endHeader()
	if guard.exceeded {
		b.warn(fmt.Sprintf("header block larger than %d bytes: the rest of the message was not read", maxStreamHeader))
	}
	if err != nil {
		b.warn("header: " + clip(err.Error(), 200))
	}
	b.headers = len(h)
	readHeaderFacts(header(h), b.f, b.warn)
	if guard.exceeded {
		return
	}
	b.walkStream(header(h), br, "0", 0, "text/plain")
}

// walkStream handles one entity whose body r yields.
func (b *builder) walkStream(h header, r io.Reader, id string, mdepth int, defaultType string) {
	pi := describePart(h, defaultType, b.warnOnce)
	if !strings.HasPrefix(pi.mediaType, "multipart/") {
		b.leaf(pi, id, nil, r)
		return
	}
	boundary := pi.boundary
	if boundary == "" {
		b.warn(fmt.Sprintf("part %s: %s without a boundary; read as text", id, pi.mediaType))
		pi.mediaType = "text/plain"
		b.leaf(pi, id, nil, r)
		return
	}
	if mdepth >= maxMultipartDepth {
		b.warnOnce("mdepth", fmt.Sprintf("multipart entities nested deeper than %d: the rest were not read", maxMultipartDepth))
		return
	}
	childDefault := "text/plain"
	if pi.mediaType == "multipart/digest" {
		childDefault = "message/rfc822"
	}
	guard := newHeaderGuard(r)
	mr := textproto.NewMultipartReader(guard, boundary)
	for i := 1; ; i++ {
		if b.parts >= b.run.opts.MaxParts {
			b.warnOnce("parts", fmt.Sprintf("more than %d MIME parts: the rest were not read", b.run.opts.MaxParts))
			return
		}
		if b.run.over() {
			return
		}
		guard.startHeader(maxStreamPartHeader)
		part, err := mr.NextPart()
		guard.endHeader()
		if err == io.EOF {
			return
		}
		if err != nil {
			if guard.exceeded {
				b.warn(fmt.Sprintf("part %s: a part header larger than %d bytes: the rest of this multipart was not read", id, maxStreamPartHeader))
			} else {
				b.warn(fmt.Sprintf("part %s: %v: the rest of this multipart was not read", id, clip(err.Error(), 200)))
			}
			return
		}
		b.parts++
		childID := strconv.Itoa(i)
		if id != "0" {
			childID = id + "." + childID
		}
		b.walkStream(header(part.Header.Map()), part, childID, mdepth+1, childDefault)
		if _, err := io.Copy(io.Discard, part); err != nil {
			b.warn(fmt.Sprintf("part %s: %v: the rest of this multipart was not read", childID, clip(err.Error(), 200)))
			return
		}
	}
}

// errHeaderTooLarge stops a header read that went past its bound.
var errHeaderTooLarge = errors.New("header block too large")

// headerGuard limits the bytes read from r while a header block is being
// read, and nothing else: a part's body may be any size.
type headerGuard struct {
	r        io.Reader
	limit    int64 // bytes still allowed; < 0 when not reading a header
	exceeded bool
}

func newHeaderGuard(r io.Reader) *headerGuard { return &headerGuard{r: r, limit: -1} }

func (g *headerGuard) startHeader(n int64) { g.limit = n }
func (g *headerGuard) endHeader()          { g.limit = -1 }

func (g *headerGuard) Read(p []byte) (int, error) {
	if g.limit == 0 {
		g.exceeded = true
		return 0, errHeaderTooLarge
	}
	if g.limit > 0 && int64(len(p)) > g.limit {
		p = p[:g.limit]
	}
	n, err := g.r.Read(p)
	if g.limit > 0 {
		g.limit -= int64(n)
	}
	return n, err
}

// warnCollector passes enmime's header warnings on.
type warnCollector struct{ b *builder }

func (c warnCollector) AddError(name, format string, args ...any) {
	c.b.warn("header: " + name + ": " + clip(fmt.Sprintf(format, args...), 200))
}

func (c warnCollector) AddWarning(name, format string, args ...any) {
	c.AddError(name, format, args...)
}
