package evidencetest

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/claimtrail/claimtrail/rules"
)

// HostileBodySize is the size of the large-body shapes of issue 16: a
// 200 MB attachment or text body.
const HostileBodySize = 200 << 20

// Shape is one kind of hostile mail (issue 16): small to describe, costly
// to parse. Write streams it, so a 200 MB body is never held in memory.
type Shape struct {
	Name string
	// Verdict and Reason are the judgment the shape gets. Every shape is
	// written to be accepted once read (see HostileShapes): empty means
	// rules.Accepted with no reason, and is so for every shape but those
	// the rules judge otherwise, each with a comment saying why.
	Verdict rules.Verdict
	Reason  rules.Reason
	// Bound is, in lower case, part of the warning about the bound this
	// shape hits (e.g. "content-type field"); empty when the shape is read
	// without one.
	Bound string
	// Write writes the message with CRLF line ends (unless the shape is
	// about line ends).
	Write func(w io.Writer) error
}

// What every shape is about: a Contoso user (the sender's domain) names
// this incident.
const (
	HostileIncidentID   = "EX315207"
	HostileSenderDomain = "contoso.com"
)

// Misjudged says how j differs from the judgment the shape should get
// (Verdict and Reason), or returns "" when it does not. An accepted shape
// must name HostileIncidentID and nothing else: a message read only in
// part (too_complex) or not at all (malformed) is misjudged.
func (s Shape) Misjudged(j rules.Judgment) string {
	want := s.Verdict
	if want == "" {
		want = rules.Accepted
	}
	if j.Verdict != want || j.Reason != s.Reason {
		return fmt.Sprintf("judged %s/%s, want %s/%s", j.Verdict, j.Reason, want, s.Reason)
	}
	if want == rules.Accepted && !slices.Equal(j.IncidentIDs, []string{HostileIncidentID}) {
		return fmt.Sprintf("incident IDs %q, want [%s]", j.IncidentIDs, HostileIncidentID)
	}
	return ""
}

// HostileShapes returns the shapes of issue 16 plus a few more. bodySize
// is the size of the large-body shapes (HostileBodySize for the real
// thing; tests pass less). Every shape comes from a Contoso user (or,
// for the From shapes, many of them) whose mail the trusted server stamped
// dmarc=pass and names HostileIncidentID, so it would be accepted if it
// could be read.
func HostileShapes(bodySize int64) []Shape {
	return []Shape{
		{Name: "content-type-100k-params", Bound: "content-type field", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/plain; charset=utf-8")
				for i := range 100000 {
					fmt.Fprintf(hw, ";\r\n p%d=v", i)
				}
				hw.WriteString("\r\n")
			}, plainBody)
		}},
		{Name: "content-disposition-40k-rfc2231", Bound: "content-disposition field", Write: func(w io.Writer) error {
			return multipartMixed(w, func(bw *bufio.Writer) {
				bw.WriteString("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n")
				bw.WriteString("Content-Disposition: attachment")
				for i := range 40000 {
					fmt.Fprintf(bw, ";\r\n filename*%d*=%%41", i)
				}
				bw.WriteString("\r\n\r\nJVBERi0xLjQK\r\n")
			})
		}},
		{Name: "content-type-1mb-mangled", Bound: "content-type field", Write: func(w io.Writer) error {
			// enmime's repair of a mangled media type walks the value once
			// per problem it finds.
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/plain")
				for range 100000 {
					hw.WriteString(" ;=;\"x")
				}
				hw.WriteString("\r\n")
			}, plainBody)
		}},
		{Name: "multipart-nested-5000", Bound: "nested", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: multipart/mixed; boundary=\"b0\"\r\n")
			}, func(bw *bufio.Writer) {
				const depth = 5000
				for i := 1; i <= depth; i++ {
					fmt.Fprintf(bw, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
				}
				fmt.Fprintf(bw, "--b%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n", depth, plainText)
				for i := depth; i >= 0; i-- {
					fmt.Fprintf(bw, "--b%d--\r\n", i)
				}
			})
		}},
		{Name: "rfc822-nested-1000", Bound: "originals nested deeper", Write: func(w io.Writer) error {
			// Each level is a complete message inside the one before.
			const depth = 1000
			bw := bufio.NewWriterSize(w, 64<<10)
			for range depth {
				writeHeader(bw)
				bw.WriteString("Content-Type: message/rfc822\r\n\r\n")
			}
			writeHeader(bw)
			bw.WriteString("Content-Type: text/plain\r\n\r\n" + plainText + "\r\n")
			return bw.Flush()
		}},
		{Name: "parts-1900-mangled-content-types", Bound: "content-type and content-disposition fields", Write: func(w io.Writer) error {
			// Each field within the bounds; enmime repairs every one at
			// the cost of its length times its parameters.
			return multipartMixed(w, func(bw *bufio.Writer) {
				for i := range 1900 {
					if i > 0 {
						bw.WriteString("--hostile\r\n")
					}
					writeMangledType(bw)
					bw.WriteString("\r\nx\r\n")
				}
			})
		}},
		{Name: "parts-20000-mangled-content-types", Bound: "repaired over its first", Write: func(w io.Writer) error {
			return multipartMixed(w, func(bw *bufio.Writer) {
				for i := range 20000 {
					if i > 0 {
						bw.WriteString("--hostile\r\n")
					}
					writeMangledType(bw)
					bw.WriteString("\r\nx\r\n")
				}
			})
		}},
		{Name: "parts-20000", Bound: "parts", Write: func(w io.Writer) error {
			return multipartMixed(w, func(bw *bufio.Writer) {
				for i := range 20000 {
					if i > 0 {
						bw.WriteString("--hostile\r\n")
					}
					fmt.Fprintf(bw, "Content-Type: application/octet-stream; name=\"f%d.bin\"\r\n\r\nx\r\n", i)
				}
			})
		}},
		{Name: "subject-1mb-line", Bound: "", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("X-Filler: ")
				hw.WriteString(strings.Repeat("a", 1<<20))
				hw.WriteString("\r\n")
			}, plainBody, "Subject: EX315207 "+strings.Repeat("outage ", (1<<20)/7))
		}},
		{Name: "x-header-1mb-lines", Bound: "", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				for i := range 8 {
					fmt.Fprintf(hw, "X-Hostile-%d: %s\r\n", i, strings.Repeat("b", 1<<20))
				}
			}, plainBody)
		}},
		{Name: "to-50000-addresses", Bound: "", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("To: ")
				for i := range 50000 {
					if i > 0 {
						hw.WriteString(",\r\n ")
					}
					fmt.Fprintf(hw, "\"User %d\" <user%d@contoso.com>", i, i)
				}
				hw.WriteString("\r\n")
			}, plainBody)
		}},
		{Name: "nul-bytes", Bound: "", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("X-Nul: a\x00b\x00c\r\n")
			}, func(bw *bufio.Writer) {
				bw.WriteString(plainText)
				bw.WriteString("\r\n")
				for range 10000 {
					bw.WriteString("\x00\x00\x00\x00 nul \x00\r\n")
				}
			})
		}},
		{Name: "cr-only-line-ends", Bound: "lines end in a bare cr", Write: func(w io.Writer) error {
			var sb strings.Builder
			sb.WriteString(headerText)
			sb.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
			sb.WriteString(plainText)
			sb.WriteString("\r\n")
			for range 20000 {
				sb.WriteString("line ended by a lone CR\r\n")
			}
			_, err := io.WriteString(w, strings.ReplaceAll(sb.String(), "\r\n", "\r"))
			return err
		}},
		{Name: "body-large-base64", Bound: "full parse", Write: func(w io.Writer) error {
			return multipartMixed(w, func(bw *bufio.Writer) {
				bw.WriteString("Content-Type: application/zip; name=\"logs.zip\"\r\n")
				bw.WriteString("Content-Disposition: attachment; filename=\"logs.zip\"\r\n")
				bw.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
				writeBase64(bw, bodySize)
			})
		}},
		{Name: "body-large-text", Bound: "full parse", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
			}, func(bw *bufio.Writer) {
				bw.WriteString(plainText)
				bw.WriteString("\r\n")
				line := strings.Repeat("the mailbox did not open ", 3) + "\r\n"
				for n := int64(0); n < bodySize; n += int64(len(line)) {
					bw.WriteString(line)
				}
			})
		}},
		{Name: "authentication-results-5000-forged", Bound: "warnings were dropped", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
				for i := range 5000 {
					fmt.Fprintf(hw, "Authentication-Results: mx.adatum-csp.com; dmarc=fail (forged %d) header.from=contoso.com\r\n", i)
				}
			}, plainBody)
		}},
		{Name: "encoded-words-100k", Bound: "encoded-words", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
				hw.WriteString("X-Words: ")
				for range 100000 {
					hw.WriteString("=?utf-8?q?a?= ")
				}
				hw.WriteString("\r\n")
			}, plainBody, "Subject: EX315207 "+strings.Repeat("=?utf-8?q?caf=C3=A9?= ", 20000))
		}},
		{Name: "body-line-without-newline", Bound: "", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
			}, func(bw *bufio.Writer) {
				bw.WriteString(plainText + " ")
				for range 8 << 10 {
					bw.WriteString(strings.Repeat("x", 1023) + " ")
				}
			})
		}},
		{Name: "header-without-end", Bound: "", Write: func(w io.Writer) error {
			// 8 MB of header fields and no blank line: the header never ends.
			bw := bufio.NewWriterSize(w, 64<<10)
			writeHeader(bw)
			for i := range 80000 {
				fmt.Fprintf(bw, "X-Field-%d: %s\r\n", i, strings.Repeat("h", 90))
			}
			return bw.Flush()
		}},
		{Name: "html-nested-200k", Bound: "", Write: func(w io.Writer) error {
			return hostile(w, func(hw *bufio.Writer) {
				hw.WriteString("Content-Type: text/html; charset=utf-8\r\n")
			}, func(bw *bufio.Writer) {
				bw.WriteString("<html><body><p>Service Health incident EX315207 stopped our mail.</p>")
				bw.WriteString(strings.Repeat("<div>", 200000) + "x" + strings.Repeat("</div>", 200000))
				bw.WriteString("</body></html>\r\n")
			})
		}},
		// RFC 5322 section 3.6.2 makes every address in From an author,
		// and each must be judged; the parse records the first 100, so
		// the rules cannot judge them all and establish no sender: these
		// two are rejected, no_sender, though every address is Contoso's.
		{Name: "from-50000-addresses", Bound: "from addresses: the first 100", Verdict: rules.Rejected, Reason: rules.ReasonNoSender, Write: func(w io.Writer) error {
			return hostileFrom(w, func(hw *bufio.Writer) {
				hw.WriteString("From: ")
				for i := range 50000 {
					if i > 0 {
						hw.WriteString(",\r\n ")
					}
					fmt.Fprintf(hw, "user%d@contoso.com", i+1)
				}
				hw.WriteString("\r\n")
			})
		}},
		{Name: "from-fields-30000", Bound: "from addresses: the first 100", Verdict: rules.Rejected, Reason: rules.ReasonNoSender, Write: func(w io.Writer) error {
			// RFC 5322 section 3.6 allows one From field; these are many.
			return hostileFrom(w, func(hw *bufio.Writer) {
				for i := range 30000 {
					fmt.Fprintf(hw, "From: user%d@contoso.com\r\n", i+1)
				}
			})
		}},
		{Name: "boundary-lines-100k", Bound: "boundary-like lines", Write: func(w io.Writer) error {
			// Delimiter lines with no part between them.
			return multipartMixed(w, func(bw *bufio.Writer) {
				bw.WriteString("Content-Type: text/plain\r\n\r\n" + plainText + "\r\n")
				for range 100000 {
					bw.WriteString("--hostile\r\n")
				}
			})
		}},
	}
}

// headerText is the header every shape starts with: a Contoso user,
// stamped dmarc=pass by the partner's trusted server.
const headerText = "Received: from mail.contoso.com (mail.contoso.com [203.0.113.25])\r\n" +
	"\tby mx.adatum-csp.com (Postfix) with ESMTPS id 4cXk2Q1N7Hz9sWm\r\n" +
	"\tfor <sla-credits@adatum-csp.com>; Mon, 23 Nov 2026 09:12:40 +0000 (UTC)\r\n" +
	"Authentication-Results: mx.adatum-csp.com;\r\n" +
	"\tdkim=none;\r\n" +
	"\tspf=pass smtp.mailfrom=tom.baker@contoso.com;\r\n" +
	"\tdmarc=pass (policy=reject) header.from=contoso.com\r\n" +
	"Message-ID: <hostile.4cXk2Q1N7Hz9sWm@contoso.com>\r\n" +
	"Date: Mon, 23 Nov 2026 09:12:38 +0000\r\n" +
	fromLine +
	"MIME-Version: 1.0\r\n"

// fromLine is the author of every shape but those about the From field.
const fromLine = "From: Tom Baker <tom.baker@contoso.com>\r\n"

const plainText = "Hello,\r\n\r\nService Health incident EX315207 stopped our mail yesterday.\r\n" +
	"Please claim the SLA credit.\r\n\r\nRegards,\r\nTom Baker"

func writeHeader(bw *bufio.Writer) {
	bw.WriteString(headerText)
	bw.WriteString("To: sla-credits@adatum-csp.com\r\nSubject: EX315207: please claim the SLA credit\r\n")
}

func plainBody(bw *bufio.Writer) {
	bw.WriteString(plainText)
	bw.WriteString("\r\n")
}

// hostile writes the common header (subject replaces its Subject and To
// lines when given), then what extra writes, a blank line and body.
func hostile(w io.Writer, extra, body func(*bufio.Writer), subject ...string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if len(subject) > 0 {
		bw.WriteString(headerText)
		bw.WriteString(subject[0] + "\r\n")
	} else {
		writeHeader(bw)
	}
	extra(bw)
	bw.WriteString("\r\n")
	body(bw)
	return bw.Flush()
}

// hostileFrom writes the common header with from's From field(s) in place
// of Tom Baker's, then a text body.
func hostileFrom(w io.Writer, from func(*bufio.Writer)) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(strings.Replace(headerText, fromLine, "", 1))
	from(bw)
	bw.WriteString("To: sla-credits@adatum-csp.com\r\nSubject: EX315207: please claim the SLA credit\r\n")
	bw.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	plainBody(bw)
	return bw.Flush()
}

// multipartMixed writes a multipart/mixed message with boundary
// "hostile": a text part naming the incident, then the parts rest writes
// (the delimiter before the first is written here), then the close.
func multipartMixed(w io.Writer, rest func(*bufio.Writer)) error {
	return hostile(w, func(hw *bufio.Writer) {
		hw.WriteString("Content-Type: multipart/mixed; boundary=\"hostile\"\r\n")
	}, func(bw *bufio.Writer) {
		bw.WriteString("--hostile\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
		bw.WriteString(plainText + "\r\n--hostile\r\n")
		rest(bw)
		bw.WriteString("--hostile--\r\n")
	})
}

// writeBase64 writes about n bytes of base64 lines of a repeating
// pattern, which costs the generator nothing to make.
func writeBase64(bw *bufio.Writer, n int64) {
	raw := make([]byte, 57)
	for i := range raw {
		raw[i] = byte(i * 37)
	}
	line := base64.StdEncoding.EncodeToString(raw) + "\r\n"
	for w := int64(0); w < n; w += int64(len(line)) {
		bw.WriteString(line)
	}
}

// writeMangledType writes a Content-Type field just within the media-type
// bounds (63 parameters, under 4 KB) and malformed: each parameter opens
// a quote it never closes.
func writeMangledType(bw *bufio.Writer) {
	bw.WriteString("Content-Type: application/octet-stream")
	for j := range 63 {
		fmt.Fprintf(bw, " ;x%02d=%s \"q", j, strings.Repeat("v", 50))
	}
	bw.WriteString("\r\n")
}

// WriteShapes writes every shape of HostileShapes(bodySize) into dir as
// NAME.eml and returns the shapes, their files in the same order, and the
// SHA-256 (hex) of each file by shape name.
func WriteShapes(dir string, bodySize int64) (shapes []Shape, files []string, shas map[string]string, err error) {
	shas = map[string]string{}
	for _, s := range HostileShapes(bodySize) {
		name := filepath.Join(dir, s.Name+".eml")
		f, err := os.Create(name)
		if err != nil {
			return nil, nil, nil, err
		}
		h := sha256.New()
		err = s.Write(io.MultiWriter(f, h))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("evidencetest: write shape %s: %w", s.Name, err)
		}
		shapes, files = append(shapes, s), append(files, name)
		shas[s.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return shapes, files, shas, nil
}
