package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// crlf turns a message written with "\n" into one with CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// parseCase is one message and what its facts must say. Zero-valued
// expectations are not checked, except where noted.
type parseCase struct {
	name        string
	raw         []byte
	text        string
	htmlText    string
	subject     string
	sender      string
	urls        []string
	attachments []Attachment // checked when non-nil
	originals   []string     // the Sender of each original, checked when non-nil
	warn        []string     // substrings some warning must contain
	noWarnings  bool
}

var featureCases = []parseCase{
	{
		name: "quoted-printable UTF-8 text",
		raw: crlf(`From: Jana <jana@contoso.cz>
Subject: Outage
Date: Mon, 3 Mar 2025 09:15:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

V=C3=BDpadek EX315207 trval p=C4=9Bt hodin, pros=C3=ADme o kredit. Toto je dlo=
uh=C3=BD =C5=99=C3=A1dek.
`),
		text:       "Výpadek EX315207 trval pět hodin, prosíme o kredit. Toto je dlouhý řádek.\r\n",
		sender:     "jana@contoso.cz",
		noWarnings: true,
	},
	{
		name: "base64 text",
		raw: crlf(`From: jana@contoso.cz
Subject: Outage
Date: Mon, 3 Mar 2025 09:15:00 +0100
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

VsO9cGFkZWsgRVgzMTUyMDcsIHByb3PDrW1lIG8ga3JlZGl0Lg==
`),
		text:       "Výpadek EX315207, prosíme o kredit.",
		noWarnings: true,
	},
	{
		name: "HTML-only mail",
		raw: crlf(`From: jana@contoso.cz
Subject: Outage
Date: Mon, 3 Mar 2025 09:15:00 +0100
Content-Type: text/html; charset=utf-8

<html><body><p>Incident <b>EX315207</b>: see <a href="https://admin.microsoft.com/#/servicehealth">Service health</a>.</p></body></html>
`),
		text:       "",
		htmlText:   "Incident EX315207: see Service health.",
		urls:       []string{"https://admin.microsoft.com/#/servicehealth"},
		noWarnings: true,
	},
	{
		name: "multipart/alternative",
		raw: crlf(`From: jana@contoso.cz
Subject: Outage
Date: Mon, 3 Mar 2025 09:15:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=us-ascii

Incident EX315207, details at https://status.example/EX315207.
--alt
Content-Type: text/html; charset=us-ascii

<p>Incident EX315207, details <a href="https://status.example/EX315207">here</a>.</p>
--alt--
`),
		text:       "Incident EX315207, details at https://status.example/EX315207.",
		htmlText:   "Incident EX315207, details here.",
		urls:       []string{"https://status.example/EX315207"},
		noWarnings: true,
	},
	{
		name: "RFC 2047 subject in ISO-8859-2",
		raw: crlf(`From: =?iso-8859-2?q?Ji=F8=ED_=A9=BBastn=FD?= <jiri@contoso.cz>
Subject: =?ISO-8859-2?Q?V=FDpadek_slu=BEby_EX315207_-_=BE=E1dost_o_kredit?=
Date: Mon, 3 Mar 2025 09:15:00 +0100

body
`),
		subject:    "Výpadek služby EX315207 - žádost o kredit",
		sender:     "jiri@contoso.cz",
		noWarnings: true,
	},
	{
		name: "Windows-1252 body",
		raw: append(crlf(`From: juergen@fabrikam.de
Subject: Ausfall
Date: Mon, 3 Mar 2025 09:15:00 +0100
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: 8bit

`), "Die \x84St\xf6rung\x93 kostet 500 \x80 \x96 bitte Gutschrift."...),
		text:       "Die „Störung“ kostet 500 € – bitte Gutschrift.",
		noWarnings: true,
	},
	{
		name: "ISO-8859-2 quoted-printable body",
		raw: crlf(`From: jiri@contoso.cz
Subject: Vypadek
Date: Mon, 3 Mar 2025 09:15:00 +0100
Content-Type: text/plain; charset="ISO-8859-2"
Content-Transfer-Encoding: quoted-printable

=A9=BBastn=FD, =BE=E1dost o kredit
`),
		text:       "Šťastný, žádost o kredit\r\n",
		noWarnings: true,
	},
	{
		name: "unknown body charset",
		raw: crlf(`From: a@contoso.cz
Subject: x
Date: Mon, 3 Mar 2025 09:15:00 +0100
Content-Type: text/plain; charset=x-martian

hello
`),
		text: "hello\r\n",
		warn: []string{`unknown charset "x-martian"`},
	},
	{
		name: "attachment names",
		raw: crlf(`From: jana@contoso.cz
Subject: files
Date: Mon, 3 Mar 2025 09:15:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/plain

see attached
--mix
Content-Type: application/pdf
Content-Disposition: attachment; filename*=utf-8''%C3%BA%C4%8Det%20EX315207.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQ=
--mix
Content-Type: application/pdf; name="=?utf-8?q?v=C3=BDpis_=C4=8D=2E1.pdf?="
Content-Disposition: attachment
Content-Transfer-Encoding: base64

JVBERi0xLjU=
--mix
Content-Type: text/csv
Content-Disposition: attachment;
 filename*0*=iso-8859-2''u%BEivatel%E9;
 filename*1=".csv"

a,b
--mix
Content-Type: application/octet-stream; name="../../etc/passwd"

root
--mix
Content-Type: image/png
Content-Disposition: inline
Content-ID: <shot1>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--mix--
`),
		text: "see attached",
		attachments: []Attachment{
			{Name: "účet EX315207.pdf", ContentType: "application/pdf", Size: 8, SHA256: sha("%PDF-1.4")},
			{Name: "výpis č.1.pdf", ContentType: "application/pdf", Size: 8, SHA256: sha("%PDF-1.5")},
			{Name: "uživatelé.csv", ContentType: "text/csv", Size: 3, SHA256: sha("a,b")},
			{Name: "../../etc/passwd", ContentType: "application/octet-stream", Size: 4, SHA256: sha("root")},
			{Name: "", ContentType: "image/png", Size: 8, SHA256: sha("\x89PNG\r\n\x1a\n")},
		},
		noWarnings: true,
	},
	{
		name: "text attachment hashed as the sender's bytes, not converted",
		raw: append(crlf(`From: jana@contoso.cz
Subject: log
Date: Mon, 3 Mar 2025 09:15:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain; charset=utf-8

log attached
--m
Content-Type: text/plain; charset=iso-8859-2; name="log.txt"
Content-Disposition: attachment; filename="log.txt"

`), "\xa9\xbb\r\n--m--\r\n"...),
		text:        "log attached",
		attachments: []Attachment{{Name: "log.txt", ContentType: "text/plain", Size: 2, SHA256: sha("\xa9\xbb")}},
		noWarnings:  true,
	},
	{
		name: "invalid base64 attachment",
		raw: crlf(`From: jana@contoso.cz
Subject: broken
Date: Mon, 3 Mar 2025 09:15:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain

text
--m
Content-Type: application/octet-stream; name="x.bin"
Content-Transfer-Encoding: base64

SGVs*bG8=!
--m--
`),
		attachments: []Attachment{{Name: "x.bin", ContentType: "application/octet-stream", Size: 5, SHA256: sha("Hello")}},
		warn:        []string{"invalid base64"},
	},
	{
		name: "forward as attachment (message/rfc822)",
		raw: crlf(`From: Support <support@partner.example>
Subject: Fwd: Outage
Date: Mon, 3 Mar 2025 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd"

--fwd
Content-Type: text/plain

Forwarding the customer's request.
--fwd
Content-Type: message/rfc822; name="Outage.eml"
Content-Disposition: attachment; filename="Outage.eml"

From: Jana <jana@contoso.cz>
Subject: Outage EX315207
Date: Mon, 3 Mar 2025 09:15:00 +0100
Authentication-Results: mx.partner.example; dmarc=pass header.from=contoso.cz

Please claim the credit.
--fwd--
`),
		text:      "Forwarding the customer's request.",
		sender:    "support@partner.example",
		originals: []string{"jana@contoso.cz"},
		attachments: []Attachment{{Name: "Outage.eml", ContentType: "message/rfc822", Size: 199,
			SHA256: sha("From: Jana <jana@contoso.cz>\r\nSubject: Outage EX315207\r\nDate: Mon, 3 Mar 2025 09:15:00 +0100\r\nAuthentication-Results: mx.partner.example; dmarc=pass header.from=contoso.cz\r\n\r\nPlease claim the credit.")}},
		noWarnings: true,
	},
	{
		name: "base64-encoded original",
		raw: crlf(`From: support@partner.example
Subject: Fwd
Date: Mon, 3 Mar 2025 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd"

--fwd
Content-Type: message/rfc822
Content-Transfer-Encoding: base64

RnJvbTogamFuYUBjb250b3NvLmN6DQpTdWJqZWN0OiBoaQ0KDQpoaQ0K
--fwd--
`),
		originals: []string{"jana@contoso.cz"},
	},
	{
		name: "multipart/digest parts default to message/rfc822 (RFC 2046 5.1.5)",
		raw: crlf(`From: support@partner.example
Subject: digest
Date: Mon, 3 Mar 2025 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="d"

--d

From: a@contoso.cz
Subject: one

one
--d

From: b@fabrikam.com
Subject: two

two
--d--
`),
		originals: []string{"a@contoso.cz", "b@fabrikam.com"},
	},
	{
		name: "missing From",
		raw: crlf(`Subject: who?
Date: Mon, 3 Mar 2025 09:15:00 +0100

body
`),
		sender: "",
		warn:   []string{"no From field"},
	},
	{
		name: "two From fields",
		raw: crlf(`From: first@contoso.cz
From: second@fabrikam.com
Subject: x
Date: Mon, 3 Mar 2025 09:15:00 +0100

body
`),
		sender: "first@contoso.cz",
		warn:   []string{"2 From fields"},
	},
	{
		name: "unknown transfer encoding",
		raw: crlf(`From: a@contoso.cz
Subject: x
Date: Mon, 3 Mar 2025 09:15:00 +0100
Content-Transfer-Encoding: x-uuencode

begin 644 x
`),
		text: "begin 644 x\r\n",
		warn: []string{`unknown Content-Transfer-Encoding "x-uuencode"`},
	},
	{
		name: "bare LF line endings",
		raw: []byte("From: a@contoso.cz\nSubject: bare\nDate: Mon, 3 Mar 2025 09:15:00 +0100\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nline one\nline two\n" +
			"--b\nContent-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\nSGk=\n--b--\n"),
		subject:     "bare",
		text:        "line one\nline two",
		attachments: []Attachment{{Name: "a.bin", ContentType: "application/octet-stream", Size: 2, SHA256: sha("Hi")}},
		noWarnings:  true,
	},
	{
		name: "mbox From line",
		raw: crlf(`From jana@contoso.cz Mon Mar  3 09:15:00 2025
From: jana@contoso.cz
Subject: mbox
Date: Mon, 3 Mar 2025 09:15:00 +0100

body
`),
		sender: "jana@contoso.cz",
		text:   "body\r\n",
		warn:   []string{"mbox"},
	},
	{
		name: "no header/body separator",
		raw: crlf(`From: jana@contoso.cz
Subject: no blank line
Date: Mon, 3 Mar 2025 09:15:00 +0100
Hello, incident EX315207 hit us.
Regards
`),
		subject: "no blank line",
		text:    "Hello, incident EX315207 hit us.\r\nRegards\r\n",
		warn:    []string{"no blank line"},
	},
	{
		name: "unindented fold repaired",
		raw: crlf(`From: jana@contoso.cz
Subject: a subject
that lost its indentation
Date: Mon, 3 Mar 2025 09:15:00 +0100

body
`),
		subject: "a subject that lost its indentation",
		text:    "body\r\n",
	},
}

func TestParseFeatures(t *testing.T) {
	for _, tt := range featureCases {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseBytes(tt.raw, nil)
			if err != nil {
				t.Fatalf("ParseBytes() error = %v", err)
			}
			checkFacts(t, f, 0)
			checkCase(t, tt, f)
			if f.Truncated {
				t.Errorf("Truncated = true for a %d-byte message", len(tt.raw))
			}
		})
	}
}

func checkCase(t *testing.T, tt parseCase, f *Facts) {
	t.Helper()
	if tt.text != "" || tt.htmlText != "" {
		if f.Text != tt.text {
			t.Errorf("Text = %q, want %q", f.Text, tt.text)
		}
	}
	if tt.htmlText != "" && f.HTMLText != tt.htmlText {
		t.Errorf("HTMLText = %q, want %q", f.HTMLText, tt.htmlText)
	}
	if tt.subject != "" && f.Subject != tt.subject {
		t.Errorf("Subject = %q, want %q", f.Subject, tt.subject)
	}
	if tt.sender != "" || tt.name == "missing From" {
		if f.Sender != tt.sender {
			t.Errorf("Sender = %q, want %q", f.Sender, tt.sender)
		}
	}
	if tt.urls != nil && !slices.Equal(f.URLs, tt.urls) {
		t.Errorf("URLs = %q, want %q", f.URLs, tt.urls)
	}
	if tt.attachments != nil && !slices.Equal(f.Attachments, tt.attachments) {
		t.Errorf("Attachments =\n%+v\nwant\n%+v", f.Attachments, tt.attachments)
	}
	if tt.originals != nil {
		var got []string
		for _, o := range f.Originals {
			got = append(got, o.Facts.Sender)
		}
		if !slices.Equal(got, tt.originals) {
			t.Errorf("original senders = %q, want %q", got, tt.originals)
		}
	}
	for _, w := range tt.warn {
		if !slices.ContainsFunc(f.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("Warnings = %q, want one containing %q", f.Warnings, w)
		}
	}
	if tt.noWarnings && len(f.Warnings) > 0 {
		t.Errorf("Warnings = %q, want none", f.Warnings)
	}
}

// The streaming parse must agree with the full one on everything it reads:
// the header facts, the attachments and the originals.
func TestParseStreamAgreesWithFull(t *testing.T) {
	for _, tt := range featureCases {
		t.Run(tt.name, func(t *testing.T) {
			full, _ := ParseBytes(tt.raw, nil)
			// Small enough to stream the message, big enough to keep its
			// originals in memory.
			limit := int64(16)
			for _, o := range full.Originals {
				limit = max(limit, int64(len(o.Raw)))
			}
			streamed, _ := ParseBytes(tt.raw, &ParseOptions{MaxBytes: limit})
			checkFacts(t, streamed, 0)
			if !streamed.Truncated {
				t.Errorf("streamed Truncated = false, want true")
			}
			for _, c := range []struct {
				field      string
				full, strm any
			}{
				{"MessageID", full.MessageID, streamed.MessageID},
				{"From", full.From, streamed.From},
				{"Sender", full.Sender, streamed.Sender},
				{"To", fmt.Sprint(full.To), fmt.Sprint(streamed.To)},
				{"Date", full.Date, streamed.Date},
				{"Subject", full.Subject, streamed.Subject},
				{"AuthenticationResults", fmt.Sprint(full.AuthenticationResults), fmt.Sprint(streamed.AuthenticationResults)},
				{"Attachments", fmt.Sprint(full.Attachments), fmt.Sprint(streamed.Attachments)},
				{"Originals", len(full.Originals), len(streamed.Originals)},
			} {
				if c.full != c.strm {
					t.Errorf("%s: streamed %v, full %v", c.field, c.strm, c.full)
				}
			}
			for i := range min(len(full.Originals), len(streamed.Originals)) {
				if string(full.Originals[i].Raw) != string(streamed.Originals[i].Raw) {
					t.Errorf("original %d: streamed Raw %q, full %q", i, streamed.Originals[i].Raw, full.Originals[i].Raw)
				}
			}
			// The first text part is read when streaming.
			if full.Text != "" && !strings.HasPrefix(full.Text, streamed.Text) || full.Text != "" && streamed.Text == "" && full.HTMLText == "" {
				t.Errorf("streamed Text = %q, want the start of %q", streamed.Text, full.Text)
			}
		})
	}
}

func TestParseHeaderFacts(t *testing.T) {
	raw := crlf(`Received: from mail.contoso.cz
Authentication-Results: mx.partner.example;
	dmarc=pass (p=reject) header.from=contoso.cz;
	dkim=pass header.d=contoso.cz
Authentication-Results: spf=pass (sender IP is 192.0.2.1)
 smtp.mailfrom=contoso.cz; dkim=pass (signature was verified)
 header.d=contoso.cz;dmarc=pass action=none header.from=contoso.cz;compauth=pass reason=100
Message-ID: <CAF=abc123@mail.contoso.cz>
From: "Nováková, Jana" <Jana.Novakova@Contoso.CZ>
To: "Doe, Jane" <jane@partner.example>, support@partner.example
To: other@partner.example
Date: Mon, 3 Mar 2025 09:15:00 +0100 (CET)
Subject: Re: EX315207
MIME-Version: 1.0

body
`)
	f, err := ParseBytes(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Facts{
		MessageID: "CAF=abc123@mail.contoso.cz",
		From:      `"Nováková, Jana" <Jana.Novakova@Contoso.CZ>`,
		Sender:    "Jana.Novakova@contoso.cz",
		To:        []string{"Doe, Jane <jane@partner.example>", "support@partner.example", "other@partner.example"},
		Date:      time.Date(2025, 3, 3, 8, 15, 0, 0, time.UTC),
		Subject:   "Re: EX315207",
		AuthenticationResults: []string{
			"mx.partner.example; dmarc=pass (p=reject) header.from=contoso.cz; dkim=pass header.d=contoso.cz",
			"spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=contoso.cz; dkim=pass (signature was verified) header.d=contoso.cz;dmarc=pass action=none header.from=contoso.cz;compauth=pass reason=100",
		},
	}
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"MessageID", f.MessageID, want.MessageID},
		{"From", f.From, want.From},
		{"Sender", f.Sender, want.Sender},
		{"To", fmt.Sprintf("%q", f.To), fmt.Sprintf("%q", want.To)},
		{"Date", f.Date.UTC(), want.Date},
		{"Subject", f.Subject, want.Subject},
		{"AuthenticationResults", fmt.Sprintf("%q", f.AuthenticationResults), fmt.Sprintf("%q", want.AuthenticationResults)},
		{"Warnings", len(f.Warnings), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestParseOriginalsLimits(t *testing.T) {
	tests := []struct {
		name      string
		raw       []byte
		opts      *ParseOptions
		wantDepth int    // levels of originals parsed
		warn      string // substring of an expected warning
	}{
		{"20 levels fit the default", nestedOriginals(20), nil, 20, ""},
		{"depth cap", nestedOriginals(6), &ParseOptions{MaxDepth: 3}, 3, "nested deeper than 3"},
		{"count cap", nestedOriginals(6), &ParseOptions{MaxOriginals: 2}, 2, "more than 2 originals"},
		{"budget spent: inner ones streamed", nestedOriginals(4), &ParseOptions{MaxBytes: 1200}, 4, "in-memory budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseBytes(tt.raw, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkFacts(t, f, 0)
			depth, cur := 0, f
			var warnings []string
			for len(cur.Originals) > 0 {
				warnings = append(warnings, cur.Warnings...)
				cur = cur.Originals[0].Facts
				depth++
				if want := fmt.Sprintf("level%d@tenant.example", tt.wantDepth-depth); depth == tt.wantDepth && tt.wantDepth == 20 && cur.Sender != want {
					t.Errorf("innermost Sender = %q, want %q", cur.Sender, want)
				}
			}
			warnings = append(warnings, cur.Warnings...)
			if depth != tt.wantDepth {
				t.Errorf("originals nest %d deep, want %d", depth, tt.wantDepth)
			}
			if tt.wantDepth == 20 && cur.Text != "innermost\r\n" {
				t.Errorf("innermost Text = %q, want %q", cur.Text, "innermost\r\n")
			}
			if tt.warn != "" && !slices.ContainsFunc(warnings, func(s string) bool { return strings.Contains(s, tt.warn) }) {
				t.Errorf("warnings = %q, want one containing %q", warnings, tt.warn)
			}
		})
	}
}

// Hostile input: each must parse without panic, in bounded time and
// memory, and say what it could not read.
func TestParseHostile(t *testing.T) {
	longLine := "Subject: " + strings.Repeat("x", 1<<20) + "\r\n"
	tests := []struct {
		name  string
		raw   func() []byte
		opts  *ParseOptions
		check func(t *testing.T, f *Facts)
	}{
		{"10,000 parts", func() []byte { return manyPartsMessage(10000) }, nil, func(t *testing.T, f *Facts) {
			if len(f.Attachments) != 10000 || f.Text != "EX315207" {
				t.Errorf("%d attachments, Text %q; want 10000, %q", len(f.Attachments), f.Text, "EX315207")
			}
		}},
		{"parts over MaxParts", func() []byte { return manyPartsMessage(50) }, &ParseOptions{MaxParts: 10}, func(t *testing.T, f *Facts) {
			if len(f.Attachments) != 8 {
				t.Errorf("%d attachments, want 8 (root and text part count too)", len(f.Attachments))
			}
			wantWarning(t, f, "more than 10 MIME parts")
		}},
		{"1 MB header line", func() []byte {
			return []byte("From: a@contoso.cz\r\n" + longLine + "Date: Mon, 3 Mar 2025 09:15:00 +0100\r\n\r\nbody\r\n")
		}, nil, func(t *testing.T, f *Facts) {
			if len(f.Subject) != 1<<20 || f.Text != "body\r\n" || f.Date.IsZero() {
				t.Errorf("Subject of %d bytes, Text %q, Date %v; want 1 MiB, %q, a date", len(f.Subject), f.Text, f.Date, "body\r\n")
			}
		}},
		{"1 MB part header line, streamed", func() []byte {
			return []byte("From: a@contoso.cz\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
				"X-Long: " + strings.Repeat("y", 1<<20) + "\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--b--\r\n")
		}, &ParseOptions{MaxBytes: 1024}, func(t *testing.T, f *Facts) {
			if len(f.Attachments) != 1 || f.Attachments[0].Name != "a.pdf" {
				t.Errorf("Attachments = %+v, want a.pdf", f.Attachments)
			}
		}},
		{"5 MB part header, streamed", func() []byte {
			return []byte("From: a@contoso.cz\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
				strings.Repeat("X-Long: "+strings.Repeat("y", 1000)+"\r\n", 5000) + "\r\nbody\r\n--b--\r\n")
		}, &ParseOptions{MaxBytes: 1024}, func(t *testing.T, f *Facts) {
			wantWarning(t, f, "part header larger than")
		}},
		{"header without end, streamed", func() []byte {
			return []byte("From: a@contoso.cz\r\n" + strings.Repeat("X-Long: "+strings.Repeat("y", 1000)+"\r\n", 10000))
		}, &ParseOptions{MaxBytes: 1024}, func(t *testing.T, f *Facts) {
			wantWarning(t, f, "header block larger than")
		}},
		{"unknown charsets", func() []byte {
			return crlf("From: =?x-alien?q?Zorg?= <zorg@contoso.cz>\nSubject: =?x-alien?b?AAAA?=\nContent-Type: text/plain; charset=x-alien\n\nhi\n")
		}, nil, func(t *testing.T, f *Facts) {
			if f.Sender != "zorg@contoso.cz" || f.Text != "hi\r\n" {
				t.Errorf("Sender %q, Text %q; want zorg@contoso.cz, %q", f.Sender, f.Text, "hi\r\n")
			}
			wantWarning(t, f, `unknown charset "x-alien"`)
		}},
		{"nested multiparts", func() []byte { return nestedMultiparts(150) }, nil, func(t *testing.T, f *Facts) {
			wantWarning(t, f, "nested deeper than 64")
		}},
		{"nested multiparts, streamed", func() []byte { return nestedMultiparts(5000) }, nil, func(t *testing.T, f *Facts) {
			if !f.Truncated {
				t.Error("Truncated = false, want the deep message streamed")
			}
			wantWarning(t, f, "nested deeper than 64")
		}},
		{"binary garbage", func() []byte {
			b := make([]byte, 1<<16)
			for i := range b {
				b[i] = byte(i*7919 + i>>8)
			}
			return b
		}, nil, func(t *testing.T, f *Facts) {
			if !f.Malformed {
				t.Error("Malformed = false, want true")
			}
		}},
		{"empty", func() []byte { return nil }, nil, func(t *testing.T, f *Facts) {
			if !f.Malformed {
				t.Error("Malformed = false, want true")
			}
		}},
		{"text without header", func() []byte { return []byte("just some text\nmore text\n") }, nil, func(t *testing.T, f *Facts) {
			if !f.Malformed || f.Text != "just some text\nmore text\n" {
				t.Errorf("Malformed %v, Text %q; want true, the text", f.Malformed, f.Text)
			}
		}},
		{"NUL bytes", func() []byte {
			return []byte("From: a@con\x00toso.cz\r\nSub\x00ject: x\r\nSubject: nul\x00here\r\n\r\nbody\x00text\r\n")
		}, nil, func(t *testing.T, f *Facts) {
			if f.Subject != "nul\x00here" || f.Text != "body\x00text\r\n" {
				t.Errorf("Subject %q, Text %q", f.Subject, f.Text)
			}
		}},
		{"boundary never closed", func() []byte {
			return crlf("From: a@contoso.cz\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nunclosed\n")
		}, nil, func(t *testing.T, f *Facts) {
			if !strings.HasPrefix(f.Text, "unclosed") {
				t.Errorf("Text = %q, want the unclosed part", f.Text)
			}
		}},
		{"multipart without boundary", func() []byte {
			return crlf("From: a@contoso.cz\nContent-Type: multipart/mixed\n\nno boundary\n")
		}, nil, func(t *testing.T, f *Facts) {
			if !strings.Contains(f.Text, "no boundary") {
				t.Errorf("Text = %q, want the body read as text", f.Text)
			}
		}},
		{"a million encoded-words", func() []byte {
			return []byte("From: a@contoso.cz\r\nSubject: " + strings.Repeat("=?utf-8?q?a?= ", 1<<20) + "\r\n\r\nx")
		}, nil, func(t *testing.T, f *Facts) {
			if !strings.HasPrefix(f.Subject, strings.Repeat("a", maxEncodedWords)+" =?utf-8?q?a?=") {
				t.Errorf("Subject starts %.40q, want %d decoded words, then the rest as written", f.Subject, maxEncodedWords)
			}
			wantWarning(t, f, "more than 10000 encoded-words")
		}},
		{"15 MB of undeclared 8-bit text", func() []byte {
			return append([]byte("From: a@contoso.cz\r\n\r\n"), strings.Repeat("Gr\xfc\xdfe aus M\xfcnchen ", 15<<20/20)...)
		}, nil, func(t *testing.T, f *Facts) {
			if !strings.HasPrefix(f.Text, "Grüße aus München Grüße") || f.Truncated {
				t.Errorf("Text starts %.30q, Truncated %v; want it decoded as Windows-1252 in a full parse", f.Text, f.Truncated)
			}
			wantWarning(t, f, "no charset declared")
		}},
		{"50 MB message", func() []byte {
			var b strings.Builder
			b.WriteString("From: a@contoso.cz\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: application/octet-stream; name=big.bin\r\n\r\n")
			line := strings.Repeat("z", 998) + "\r\n"
			for b.Len() < 50<<20 {
				b.WriteString(line)
			}
			b.WriteString("--b--\r\n")
			return []byte(b.String())
		}, nil, func(t *testing.T, f *Facts) {
			if !f.Truncated || f.Text != "first" || len(f.Attachments) != 1 || f.Attachments[0].Size < 50<<20-2000 {
				t.Errorf("Truncated %v, Text %q, Attachments %+v; want a streamed parse with the 50 MB attachment", f.Truncated, f.Text, f.Attachments)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw()
			f, err := ParseBytes(raw, tt.opts)
			if err != nil {
				t.Fatalf("ParseBytes() error = %v", err)
			}
			checkFacts(t, f, 0)
			tt.check(t, f)
		})
	}
}

func wantWarning(t *testing.T, f *Facts, substr string) {
	t.Helper()
	if !slices.ContainsFunc(f.Warnings, func(s string) bool { return strings.Contains(s, substr) }) {
		t.Errorf("Warnings = %q, want one containing %q", f.Warnings, substr)
	}
}

// failingReaderAt fails every read from offset failAt on.
type failingReaderAt struct {
	data   []byte
	failAt int64
}

var errDisk = errors.New("input/output error")

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.failAt {
		n := 0
		if off < r.failAt {
			n = copy(p, r.data[off:r.failAt])
		}
		return n, errDisk
	}
	return copy(p, r.data[off:]), nil
}

func TestParseReadError(t *testing.T) {
	raw := manyPartsMessage(20)
	for _, opts := range []*ParseOptions{nil, {MaxBytes: 64}} {
		for _, failAt := range []int64{0, 10, int64(len(raw)) / 2, int64(len(raw)) - 1} {
			f, err := Parse(failingReaderAt{raw, failAt}, int64(len(raw)), opts)
			if !errors.Is(err, errDisk) || f != nil {
				t.Errorf("Parse(reader failing at %d, %+v) = %v, %v; want nil, %v", failAt, opts, f, err, errDisk)
			}
		}
	}
	if _, err := Parse(nil, 0, nil); err == nil {
		t.Error("Parse(nil reader) error = nil, want one")
	}
	if _, err := Parse(failingReaderAt{raw, 1 << 30}, -1, nil); err == nil {
		t.Error("Parse(size -1) error = nil, want one")
	}
}

// Every message of the shared corpus parses with facts that hold
// together, in full and streamed.
func TestParseCorpus(t *testing.T) {
	paths, _ := filepath.Glob("../testdata/mail/*.eml")
	local, _ := filepath.Glob("testdata/parse/*.eml")
	paths = append(paths, local...)
	if len(paths) == 0 {
		t.Skip("no .eml files in testdata/mail yet")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, opts := range []*ParseOptions{nil, {MaxBytes: 256}} {
				f, err := ParseBytes(raw, opts)
				if err != nil {
					t.Fatalf("ParseBytes(%s) error = %v", p, err)
				}
				checkFacts(t, f, 0)
			}
		})
	}
}

// Parse from a file, as the ingester hands over a spooled message.
func TestParseFile(t *testing.T) {
	path, digest := attachmentMessageFile(t, 3<<20)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	for _, opts := range []*ParseOptions{nil, {MaxBytes: 1 << 20}} {
		f, err := Parse(fh, st.Size(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Attachments) != 1 || f.Attachments[0].SHA256 != digest || f.Attachments[0].Size != 3<<20 {
			t.Errorf("Parse(%+v) attachments = %+v, want one of 3 MiB with SHA-256 %s", opts, f.Attachments, digest)
		}
		if f.Sender != "jana@contoso.cz" || !strings.Contains(f.Text, "EX315207") {
			t.Errorf("Parse(%+v) Sender %q, Text %q", opts, f.Sender, f.Text)
		}
	}
}

var updateParse = flag.Bool("update-parse", false, "rewrite the golden facts in testdata/parse")

// TestParseGolden compares the facts of each testdata/parse/*.eml with
// the .json next to it; run with -update-parse after a deliberate change
// and review the diff.
func TestParseGolden(t *testing.T) {
	paths, _ := filepath.Glob("testdata/parse/*.eml")
	if len(paths) == 0 {
		t.Fatal("no testdata/parse/*.eml")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ParseBytes(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(p, ".eml") + ".json"
			if *updateParse {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestParseGolden -update-parse to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("ParseBytes(%s) facts differ from %s:\n got: %s\nwant: %s", p, golden, got, want)
			}
		})
	}
}

// The guard that keeps enmime from messages with very many MIME markers
// counts them in what enmime is given: a large base64 body, elided before
// enmime sees it, neither hides real markers nor adds its own.
func TestParseComplexityGuardAfterElision(t *testing.T) {
	withAttachment := func(body, extraParts string) []byte {
		return []byte("From: a@contoso.cz\r\nSubject: guard\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n" +
			"--p\r\nContent-Type: text/plain\r\n\r\nEX315207\r\n" +
			"--p\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			body + extraParts + "--p--\r\n")
	}
	// 400 "multipart/" in 4,200 bytes of valid base64: over the 200 the
	// guard allows, were the body counted.
	decoy := strings.Repeat("multipart/multipart/multipart/multipart/\r\n", 100)
	decoded, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(decoy, "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(decoded)

	t.Run("markers inside an elided body", func(t *testing.T) {
		f := mustParse(t, withAttachment(decoy, ""))
		if f.Truncated {
			t.Errorf("Truncated, warnings %q; want a full parse", f.Warnings)
		}
		if len(f.Attachments) != 1 || f.Attachments[0].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Attachments = %+v, want a.bin of %d bytes", f.Attachments, len(decoded))
		}
	})
	t.Run("markers beside an elided body", func(t *testing.T) {
		var parts strings.Builder
		for i := range 3000 {
			fmt.Fprintf(&parts, "--p\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\n\r\n%d\r\n", i, i)
		}
		f := mustParse(t, withAttachment(strings.Repeat("QUJD\r\n", 1000), parts.String()))
		if !f.Truncated {
			t.Error("Truncated = false, want the message streamed")
		}
		wantWarning(t, f, "boundary-like lines")
		if len(f.Attachments) != 3001 {
			t.Errorf("%d attachments, want 3001", len(f.Attachments))
		}
	})
}

func mustParse(t *testing.T, raw []byte) *Facts {
	t.Helper()
	f, err := Parse(bytes.NewReader(raw), int64(len(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
