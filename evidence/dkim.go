package evidence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/emersion/go-msgauth/dkim"
)

// Resolver looks up DNS TXT records, as *net.Resolver does. VerifyDKIM calls
// LookupTXT once per signature, possibly from several goroutines at once; an
// error that is a timeout or temporary (net.Error) is recorded as a DKIM
// temperror, any other as a permerror.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DefaultDNSTimeout bounds one TXT look-up of the default resolver.
const DefaultDNSTimeout = 5 * time.Second

// NewDNSResolver returns a Resolver that asks the system's DNS servers
// (net.DefaultResolver), giving each look-up at most timeout
// (DefaultDNSTimeout when timeout <= 0).
func NewDNSResolver(timeout time.Duration) Resolver {
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	return &timeoutResolver{r: net.DefaultResolver, timeout: timeout}
}

type timeoutResolver struct {
	r       *net.Resolver
	timeout time.Duration
}

func (t *timeoutResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.r.LookupTXT(ctx, name)
}

// The results of DKIMCheck.Result, named as in RFC 8601 section 2.7.1.
const (
	DKIMPass      = "pass"
	DKIMFail      = "fail"      // the signature or body hash does not verify
	DKIMPermError = "permerror" // the signature or key cannot be used
	DKIMTempError = "temperror" // the key could not be fetched now
)

// maxDKIMSignatures bounds the signatures verified (and DNS queries made)
// for one message; RFC 6376 section 8.4 warns of messages carrying many.
const maxDKIMSignatures = 8

// maxDKIMHeader bounds the header block VerifyDKIM reads (a 1 MB header line
// fits). The verifier joins continuation lines by string concatenation, so
// a field folded into very many lines is also refused (maxDKIMFoldCost), in
// a message with a signature to verify: one without gets no checks, as any
// message without a signature does.
const (
	maxDKIMHeader   = 4 << 20
	maxDKIMFoldCost = 64 << 20
)

// ErrHeaderTooLarge is matched (errors.Is) by VerifyDKIM's error for a
// header block it will not verify.
var ErrHeaderTooLarge = errors.New("header too large to verify")

// VerifyDKIM verifies every DKIM-Signature of the raw message read from raw,
// asking resolver (NewDNSResolver(0) when nil) for the keys, and returns one
// DKIMCheck per signature, topmost first, each with the TXT records it used.
// A message without signatures gives an empty, non-nil slice.
//
// A signature that does not verify is a result, not an error: a bad
// signature, a tampered body or a DNS failure is recorded in the check. The
// error is for a message that could not be read (or whose header block is
// beyond the limits: ErrHeaderTooLarge) and for ctx ending.
func VerifyDKIM(ctx context.Context, raw io.Reader, resolver Resolver) ([]DKIMCheck, error) {
	if resolver == nil {
		resolver = NewDNSResolver(0)
	}
	br := bufio.NewReader(ctxReader{ctx, raw})
	header, sigs, complete, err := readDKIMHeader(br)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, fmt.Errorf("evidence: verify dkim: %w", err)
	}
	checks := make([]DKIMCheck, len(sigs))
	for i, s := range sigs {
		checks[i] = DKIMCheck{Domain: s.domain, Selector: s.selector}
	}
	if len(sigs) == 0 {
		return checks, nil
	}
	if !complete {
		// The verifier refuses such a message outright; each signature
		// still gets its result.
		for i := range checks {
			checks[i].Result, checks[i].Error = DKIMPermError, "message ends inside its header (no blank line)"
		}
		return checks, nil
	}

	var mu sync.Mutex
	records := map[string][]string{} // by query name
	lookup := func(name string) ([]string, error) {
		txt, err := resolver.LookupTXT(ctx, name)
		if err != nil {
			return nil, classifyDNSError(ctx, err)
		}
		mu.Lock()
		records[name] = txt
		mu.Unlock()
		return txt, nil
	}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(header), br), &dkim.VerifyOptions{
		LookupTXT:        lookup,
		MaxVerifications: maxDKIMSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, fmt.Errorf("evidence: verify dkim: %w", err)
	}
	for i := range checks {
		c := &checks[i]
		if i >= len(verifs) {
			c.Result = DKIMPermError
			c.Error = fmt.Sprintf("not verified: only the first %d signatures are", maxDKIMSignatures)
			continue
		}
		v := verifs[i]
		if v.Domain != "" {
			c.Domain = v.Domain
		}
		c.TXT = records[c.Selector+"._domainkey."+c.Domain]
		switch {
		case v.Err == nil:
			c.Pass, c.Result = true, DKIMPass
		case dkim.IsTempFail(v.Err):
			c.Result, c.Error = DKIMTempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			c.Result, c.Error = DKIMPermError, v.Err.Error()
		default:
			// Body hash or signature did not verify: neither kind of
			// error the library names, and a failure all the same.
			c.Result, c.Error = DKIMFail, v.Err.Error()
		}
	}
	return checks, nil
}

// classifyDNSError turns err into what the dkim package understands: it
// sorts look-up errors by a direct net.Error type assertion, so a wrapped
// timeout would otherwise count as a missing key.
func classifyDNSError(ctx context.Context, err error) error {
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary):
		return tempDNSError{err}
	case errors.As(err, &ne) && ne.Timeout():
		return tempDNSError{err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), ctx.Err() != nil:
		return tempDNSError{err}
	}
	return err
}

// tempDNSError is a temporary net.Error.
type tempDNSError struct{ err error }

func (e tempDNSError) Error() string   { return e.err.Error() }
func (e tempDNSError) Unwrap() error   { return e.err }
func (e tempDNSError) Timeout() bool   { return true }
func (e tempDNSError) Temporary() bool { return true }

type dkimSignature struct {
	domain, selector string
}

// readDKIMHeader reads the header block of a message (through the blank
// line) exactly as it stands, and the d= and s= tags of its DKIM-Signature
// fields, topmost first. Fields are split as the dkim package splits them,
// so the i-th signature here is its i-th verification. complete is false
// when the message ended before a blank line.
func readDKIMHeader(br *bufio.Reader) (header []byte, sigs []dkimSignature, complete bool, err error) {
	var (
		buf       bytes.Buffer
		field     []byte // the current field with its continuation lines
		foldCost  int64
		tooFolded bool // over maxDKIMFoldCost: only a problem if there is a signature to verify
	)
	done := func(complete bool) ([]byte, []dkimSignature, bool, error) {
		if tooFolded && len(sigs) > 0 {
			return nil, nil, false, fmt.Errorf("header field folded into too many lines: %w", ErrHeaderTooLarge)
		}
		return buf.Bytes(), sigs, complete, nil
	}
	flush := func() {
		name, value, ok := bytes.Cut(field, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), "DKIM-Signature") {
			sigs = append(sigs, parseDKIMTags(string(value)))
		}
		field = field[:0]
	}
	for {
		line, err := readLine(br, maxDKIMHeader-buf.Len())
		buf.Write(line)
		if err == io.EOF {
			field = append(field, line...)
			flush()
			return done(false)
		}
		if err != nil {
			return nil, nil, false, err
		}
		content := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(content) == 0 {
			flush()
			return done(true)
		}
		if (content[0] == ' ' || content[0] == '\t') && len(field) > 0 {
			foldCost += int64(len(field))
			tooFolded = tooFolded || foldCost > maxDKIMFoldCost
		} else {
			flush()
		}
		field = append(field, content...)
	}
}

// readLine reads one line with its terminator, failing with
// ErrHeaderTooLarge when it would exceed limit bytes.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, fmt.Errorf("header block over %d bytes: %w", maxDKIMHeader, ErrHeaderTooLarge)
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// parseDKIMTags picks d= and s= from a DKIM-Signature value (RFC 6376
// section 3.2 tag-list), ignoring folding whitespace as the verifier does.
func parseDKIMTags(value string) dkimSignature {
	var s dkimSignature
	for _, tag := range strings.Split(value, ";") {
		k, v, ok := strings.Cut(tag, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "d":
			s.domain = stripSpace(v)
		case "s":
			s.selector = stripSpace(v)
		}
	}
	return s
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}
