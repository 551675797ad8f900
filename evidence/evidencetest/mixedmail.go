// Package evidencetest generates the customer mail that claimtrail's tests
// and benchmarks share: the crash, outage and ingest benchmark of
// cmd/claimtrail and the parse benchmarks of evidence. Customers of the
// tenants in cmd/claimtrail/testdata/config.yaml ask for SLA credits, some
// from personal addresses, some failing DMARC, some without an incident
// ID, in the sizes issue 4's benchmark names; and the hostile mail of
// issue 16 (HostileShapes), which the hostile tests and BenchmarkHostile
// run through inspect and the pipeline.
package evidencetest

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Class is a size class of the mix.
type Class int

const (
	Small  Class = iota // 4-12 KB of text
	Medium              // 30-200 KB, with an attachment
	Large               // 1-3 MB, with an attachment
)

// PickClass draws a class with the shares of issue 4: 70 %, 25 %, 5 %.
func PickClass(rng *rand.Rand) Class {
	switch p := rng.IntN(100); {
	case p < 70:
		return Small
	case p < 95:
		return Medium
	}
	return Large
}

// classSize draws a message size for c.
func classSize(rng *rand.Rand, c Class) int {
	switch c {
	case Medium:
		return 30<<10 + rng.IntN(170<<10)
	case Large:
		return 1<<20 + rng.IntN(2<<20)
	}
	return 4<<10 + rng.IntN(8<<10)
}

// Mail returns message n of a mix drawn with rng, of class c and a size
// drawn for it, with CRLF line ends as IMAP serves them. run makes its
// Message-ID unique across runs. Senders go round by n: of every ten
// mails, six should be accepted, three rejected (two from personal
// addresses, one failing DMARC) and one left unmatched (no incident ID),
// given the tenants of cmd/claimtrail/testdata/config.yaml.
func Mail(rng *rand.Rand, run string, n int, c Class) []byte {
	return MailOfSize(rng, run, n, c, classSize(rng, c))
}

// mixSender is who a generated mail comes from.
type mixSender struct {
	name, addr, domain string
	dmarc              string // the trusted stamp's dmarc= result
	incident           bool   // whether the mail names an incident
}

// mixSenders is indexed by n % 10; the comments say the verdict each
// should get.
var mixSenders = [10]mixSender{
	{"Tom Baker", "tom.baker@contoso.com", "contoso.com", "pass", true},                   // accepted
	{"Ana Novak", "ana.novak@fabrikam.com", "fabrikam.com", "pass", true},                 // accepted
	{"Jan Dvořák", "jan.dvorak@strojirny-brno.cz", "strojirny-brno.cz", "pass", true},     // accepted
	{"Lee Park", "lee.park@midcoastsolutions.com", "midcoastsolutions.com", "pass", true}, // accepted
	{"Priya Raman", "priya@contoso.co.uk", "contoso.co.uk", "pass", true},                 // accepted
	{"Sam Ortiz", "sam.ortiz@fabrikam.com", "fabrikam.com", "pass", true},                 // accepted
	{"Jane Doe", "jane.doe.1984@gmail.com", "gmail.com", "pass", true},                    // rejected: personal
	{"Pierre Martin", "p.martin@orange.fr", "orange.fr", "pass", true},                    // rejected: personal
	{"Tom Baker", "tom.baker@contoso.com", "contoso.com", "fail", true},                   // rejected: DMARC fails
	{"Ana Novak", "ana.novak@fabrikam.com", "fabrikam.com", "pass", false},                // unmatched: no incident
}

// mixWords fill the bodies; none looks like an incident ID or a GUID.
var mixWords = strings.Fields(`the users of our tenant could not open their mailboxes
	this morning and sharepoint sites timed out for most of the day we saw the
	advisory in the admin center and opened a ticket with your support desk
	please file the service credit request on our behalf attached is the list
	of affected users and the screenshots our help desk took during the outage
	teams meetings dropped every few minutes calls failed and files did not sync
	thanks regards best wishes kind`)

// MailOfSize is Mail of about size bytes (never less than its headers and
// text), for mail outside the mix's sizes too (larger than what is held in
// memory, say).
func MailOfSize(rng *rand.Rand, run string, n int, c Class, size int) []byte {
	s := mixSenders[n%10]
	date := time.Date(2026, 2, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	incident := fmt.Sprintf("EX%d", 1100000+n%5000)
	subject := "Outage " + date.Format("2 Jan") + ": please claim the SLA credit"
	if s.incident {
		subject = incident + ": " + subject
	}
	var b strings.Builder
	b.Grow(size + 4096)
	h := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	h("Received: from mx.adatum-csp.com (localhost [127.0.0.1])")
	h("\tby imap.adatum-csp.com (Postfix) with LMTP id %s", run)
	h("\tfor <sla-credits@adatum-csp.com>; %s", date.Format(time.RFC1123Z))
	h("Authentication-Results: mx.adatum-csp.com;")
	h("\tdkim=none;")
	h("\tspf=pass smtp.mailfrom=%s;", s.addr)
	h("\tdmarc=%s (policy=reject) header.from=%s", s.dmarc, s.domain)
	h("Message-ID: <%d.%s@%s>", n, run, s.domain)
	h("Date: %s", date.Format(time.RFC1123Z))
	h("From: %s <%s>", mimeWord(s.name), s.addr)
	h("To: sla-credits@adatum-csp.com")
	h("Subject: %s", subject)
	h("MIME-Version: 1.0")

	text := mixText(rng, n, s, incident)
	if c == Small {
		h("Content-Type: text/plain; charset=utf-8")
		h("Content-Transfer-Encoding: 8bit")
		h("")
		b.WriteString(text)
		for b.Len() < size {
			b.WriteString(mixLine(rng))
		}
		return []byte(b.String())
	}
	boundary := "=_mix_" + strconv.Itoa(n) + "_" + run
	h("Content-Type: multipart/mixed; boundary=%q", boundary)
	h("")
	h("--%s", boundary)
	h("Content-Type: text/plain; charset=utf-8")
	h("Content-Transfer-Encoding: 8bit")
	h("")
	b.WriteString(text)
	h("--%s", boundary)
	name, ctype := "affected-users.pdf", "application/pdf"
	if n%2 == 1 {
		name, ctype = "outage-screenshot.png", "image/png"
	}
	h("Content-Type: %s; name=%q", ctype, name)
	h("Content-Disposition: attachment; filename=%q", name)
	h("Content-Transfer-Encoding: base64")
	h("")
	// Base64 of random bytes: 76 characters and CRLF per 57 bytes.
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
	return []byte(b.String())
}

// mixText is the body text of a generated mail.
func mixText(rng *rand.Rand, n int, s mixSender, incident string) string {
	var b strings.Builder
	b.WriteString("Hello,\r\n\r\n")
	if s.incident {
		fmt.Fprintf(&b, "Service Health incident %s hit us yesterday (ticket %d).\r\n", incident, 400000+n)
	} else {
		fmt.Fprintf(&b, "We had an outage yesterday (ticket %d).\r\n", 400000+n)
	}
	for range 3 + rng.IntN(4) {
		b.WriteString(mixLine(rng))
	}
	fmt.Fprintf(&b, "\r\nRegards,\r\n%s\r\n\r\n", s.name)
	return b.String()
}

// mixLine is one line of about 70 characters of words.
func mixLine(rng *rand.Rand) string {
	var b strings.Builder
	for b.Len() < 64 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(mixWords[rng.IntN(len(mixWords))])
	}
	b.WriteString("\r\n")
	return b.String()
}

// mimeWord encodes a display name as an RFC 2047 word when it is not ASCII.
func mimeWord(s string) string {
	for _, r := range s {
		if r > 127 {
			return "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
		}
	}
	return s
}
