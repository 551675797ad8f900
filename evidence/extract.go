package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Limits on what Extract walks; a message beyond them is hostile or broken.
// The part limits are the parse's, and Extract stops at them as the parse
// does: what comes before is written, and the error names the limit
// (ErrExtractLimit). So Extract accepts whatever Parse read.
const (
	// maxExtractParts bounds the parts of multiparts walked, counted as
	// the parse counts them.
	maxExtractParts = DefaultMaxParts
	// maxPartDepth bounds multipart nesting (real mail nests 3 or 4 deep).
	maxPartDepth = maxMultipartDepth
	// maxMessageHeader bounds the top-level header block, as go-message's
	// default does, but with room for the 1 MB lines some mailers write.
	maxMessageHeader = 4 << 20
)

// ErrExtractLimit is matched (errors.Is) by the error Extract returns when a
// message has more parts or deeper nesting than it will walk.
var ErrExtractLimit = errors.New("message exceeds the extraction limits")

// Extract writes the attachments of the bundle's message.eml, decoded from
// their transfer encoding (their bytes are not converted to another
// charset), into dir, which must exist. Each gets a SafeName; a name already
// present in dir is numbered rather than replaced. Nothing is written outside
// dir: files are created through an os.Root.
//
// It returns the names written, relative to dir. A part that cannot be
// decoded (invalid base64, unknown encoding) is skipped and named in the
// returned error, the others are still written; a damaged MIME structure
// stops the walk with an error, and so does a limit (see maxExtractParts),
// after the files before it are written. The message is read as the parse
// reads it: its header lines are classified as the parse classifies them
// (scanHeaderBlock, isFieldLine), and lines ending in a bare CR or LF CR
// are read as CRLF; such a message larger than the parse reads
// (DefaultMaxBytes) is an error, as the parse declares it malformed.
// Extract does not verify the bundle; call VerifyBundle first.
func Extract(bundle io.ReaderAt, size int64, dir string) ([]string, error) {
	names, err := extract(bundle, size, dir)
	if err != nil {
		return names, fmt.Errorf("evidence: extract to %s: %w", dir, err)
	}
	return names, nil
}

func extract(bundle io.ReaderAt, size int64, dir string) ([]string, error) {
	zr, err := zip.NewReader(bundle, size)
	if err != nil {
		return nil, fmt.Errorf("not a bundle (ZIP): %w", err)
	}
	var msg *zip.File
	for _, f := range zr.File {
		if f.Name == MessageName {
			msg = f
			break
		}
	}
	if msg == nil {
		return nil, fmt.Errorf("%s missing from the bundle", MessageName)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	used := map[string]int{}
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		used[strings.ToLower(e.Name())] = 1
	}

	if msg.UncompressedSize64 > math.MaxInt64 {
		return nil, fmt.Errorf("%s: size %d out of range", MessageName, msg.UncompressedSize64)
	}
	ra := &entryReaderAt{f: msg}
	defer ra.Close()
	var raw io.ReaderAt = ra
	msgSize := int64(msg.UncompressedSize64)
	// The message as the parse reads it (parse.go): line breaks made CRLF,
	// an mbox "From " line and stray indented lines skipped, a missing
	// blank line after the header put back. Extract walks what the
	// parse walked, so it writes the files the manifest lists.
	conv, note, ok := lineBreaksForParsing(raw, msgSize, DefaultMaxBytes)
	if !ok {
		return nil, fmt.Errorf("%s: %s", MessageName, note)
	}
	if conv != nil {
		raw, msgSize = bytes.NewReader(conv), int64(len(conv))
	}
	hs := scanHeaderBlock(raw, msgSize)
	x := &extractor{root: root, used: used}
	lr := &headerLimitReader{r: hs.reader(raw, msgSize), n: maxMessageHeader}
	br := bufio.NewReader(lr)
	h, err := readHeaderLenient(br)
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", MessageName, err)
	}
	lr.n = math.MaxInt64
	walkErr := x.walk(h, br, 0)
	return x.written, errors.Join(append([]error{walkErr, x.limit}, x.skipped...)...)
}

type extractor struct {
	root     *os.Root
	used     map[string]int
	written  []string
	parts    int     // leaf parts seen, for attachment-N names
	entities int     // parts of multiparts seen, counted as the parse counts them
	skipped  []error // parts that could not be decoded
	limit    error   // the limit that stopped the walk, as the parse stops
}

// walk visits one entity: multipart bodies part by part, leaves as possible
// attachments. A part's Content-* fields are read as the parse reads them
// (describePart), so that Extract writes the files the manifest lists. At a
// limit it stops as the parse does, keeping what it wrote, and records
// the limit.
func (x *extractor) walk(h textproto.Header, body io.Reader, depth int) error {
	mh := message.Header{Header: h}
	pi := describePart(header(h.Map()), "text/plain", func(string, string) {})
	if strings.HasPrefix(pi.mediaType, "multipart/") {
		if depth >= maxPartDepth {
			x.limit = fmt.Errorf("multipart nested more than %d deep: %w", maxPartDepth, ErrExtractLimit)
			return nil
		}
		if pi.boundary == "" {
			return errors.New("multipart: boundary is empty")
		}
		mr := textproto.NewMultipartReader(body, pi.boundary)
		for {
			if x.entities >= maxExtractParts {
				x.limit = fmt.Errorf("more than %d parts: %w", maxExtractParts, ErrExtractLimit)
				return nil
			}
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("part %d: %w", x.parts+1, err)
			}
			x.entities++
			if err := x.walk(p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}
	x.parts++
	name, ok := attachmentName(pi)
	if !ok {
		return nil
	}
	if cleanName(name) == "" {
		name = fmt.Sprintf("attachment-%d%s", x.parts, typeExtension(pi.mediaType))
	}
	return x.write(name, mh, body)
}

// attachmentName says whether a leaf part is an attachment, and the name its
// sender gave it (possibly empty). The text a person reads (text/plain or
// text/html without a file name or attachment disposition) is not.
func attachmentName(pi partInfo) (string, bool) {
	if pi.filename != "" || pi.disposition == "attachment" {
		return pi.filename, true
	}
	if pi.mediaType == "text/plain" || pi.mediaType == "text/html" {
		return "", false
	}
	return "", true
}

// typeExtensions give an unnamed part an extension Windows can open it by.
// A fixed table rather than mime.ExtensionsByType, whose answer depends on
// the machine's mime.types.
var typeExtensions = map[string]string{
	"message/rfc822":     ".eml",
	"text/plain":         ".txt",
	"text/html":          ".html",
	"text/csv":           ".csv",
	"text/calendar":      ".ics",
	"application/pdf":    ".pdf",
	"application/zip":    ".zip",
	"application/msword": ".doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":       ".xlsx",
	"image/png":  ".png",
	"image/jpeg": ".jpg",
	"image/gif":  ".gif",
}

func typeExtension(mediaType string) string {
	if ext, ok := typeExtensions[mediaType]; ok {
		return ext
	}
	return ".bin"
}

// write decodes one attachment into a new file under its safe name.
func (x *extractor) write(name string, h message.Header, body io.Reader) error {
	// Only the transfer encoding is undone: a text attachment keeps the bytes
	// its sender attached, in its own charset.
	var th message.Header
	th.Set("Content-Transfer-Encoding", h.Get("Content-Transfer-Encoding"))
	e, err := message.New(th, body)
	if err != nil {
		x.skipped = append(x.skipped, fmt.Errorf("attachment %q: %w", name, err))
		return nil
	}
	for range 100 {
		safe := SafeName(name, x.used)
		if !filepath.IsLocal(safe) {
			// SafeName's promise, checked because the cost of a slip is a
			// file written anywhere.
			return fmt.Errorf("attachment %q: unsafe name %q", name, safe)
		}
		f, err := x.root.OpenFile(safe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue // created by someone else meanwhile: take the next number
		}
		if err != nil {
			return fmt.Errorf("attachment %q: %w", safe, err)
		}
		src := &errReader{r: e.Body}
		_, cerr := io.Copy(f, src)
		if err := errors.Join(cerr, f.Close()); err != nil {
			x.root.Remove(safe)
			if src.err != nil {
				// A decoding error concerns this part only.
				x.skipped = append(x.skipped, fmt.Errorf("attachment %q not written: %w", name, src.err))
				return nil
			}
			return fmt.Errorf("attachment %q: %w", safe, err)
		}
		x.written = append(x.written, safe)
		return nil
	}
	return fmt.Errorf("attachment %q: no free name in the directory", name)
}

// errReader remembers a read error, to tell a bad part from a full disk.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// headerLimitReader fails once more than n bytes were read before the
// header block ended; the caller lifts n once the header is read. It bounds
// the memory a hostile header costs, as go-message's own limit does.
type headerLimitReader struct {
	r io.Reader
	n int64
}

func (l *headerLimitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("header block larger than %d bytes: %w", maxMessageHeader, ErrExtractLimit)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// readHeaderLenient reads a header block as textproto.ReadHeader does, but
// where ReadHeader fails it reads on as the parse does, with the parse's
// classification of lines (isFieldLine):
//   - a field whose name holds a byte RFC 5322 section 2.2 does not allow
//     (a space, a non-ASCII letter) is skipped with its continuation
//     lines, as enmime skips it;
//   - a line without a colon continues the field before it: a fold that
//     lost its indentation, which scanHeaderBlock let stand and enmime
//     repairs.
//
// The block is read once and copied once: linear in its size.
func readHeaderLenient(br *bufio.Reader) (textproto.Header, error) {
	var (
		block []byte
		skip  = true // the field being read is skipped; so are lines before the first
		ended bool
	)
	for !ended {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: the next read reuses the buffer line is in.
			long := slices.Clone(line)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return textproto.Header{}, err
		}
		fold := false
		switch {
		case isBlankLine(line):
			ended = true
		case line[0] == ' ' || line[0] == '\t':
			// a continuation: it goes with its field
		case isFieldLine(line):
			skip = false
		case bytes.IndexByte(line, ':') < 0:
			fold = true // goes with its field, indented
		default:
			skip = true // a colon, but no field name before it
		}
		if ended || !skip {
			if fold {
				block = append(block, ' ')
			}
			block = append(block, line...)
		}
		if err == io.EOF {
			break
		}
	}
	return textproto.ReadHeader(bufio.NewReader(bytes.NewReader(block)))
}

// entryReaderAt reads a ZIP entry at offsets, for the parse's scans.
// A compressed entry cannot seek, so it stays open where the last read
// ended and is reopened for a read before that: the reads go from the
// start onwards, so this costs a few passes, not one per read. Not safe
// for concurrent use.
type entryReaderAt struct {
	f   *zip.File
	rc  io.ReadCloser
	pos int64
}

func (e *entryReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if e.rc == nil || off < e.pos {
		if err := e.Close(); err != nil {
			return 0, err
		}
		rc, err := e.f.Open()
		if err != nil {
			return 0, err
		}
		e.rc, e.pos = rc, 0
	}
	if off > e.pos {
		n, err := io.CopyN(io.Discard, e.rc, off-e.pos)
		e.pos += n
		if err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(e.rc, p)
	e.pos += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF // io.ReaderAt's word for a short read at the end
	}
	return n, err
}

// Close closes the entry if it is open.
func (e *entryReaderAt) Close() error {
	if e.rc == nil {
		return nil
	}
	err := e.rc.Close()
	e.rc = nil
	return err
}
