package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// corpusHeaders returns the values of the named header in the shared .eml
// corpus (testdata/mail), unfolded, to seed the fuzzers with real mail.
func corpusHeaders(tb testing.TB, name string) []string {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "mail", "*.eml"))
	var out []string
	prefix := strings.ToLower(name) + ":"
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
		for i := 0; i < len(lines); i++ {
			if !strings.HasPrefix(strings.ToLower(lines[i]), prefix) {
				continue
			}
			v := lines[i][len(prefix):]
			for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
				i++
				v += "\r\n" + lines[i]
			}
			out = append(out, v)
		}
	}
	return out
}

var idShape = regexp.MustCompile(`^[A-Z]{2}[0-9]{5,8}$`)

func FuzzIncidentIDs(f *testing.F) {
	for _, s := range []string{
		"EX1234567", "ex25194.", "(EX1234567)", "#EX1234567", "ID: ex1234567", "EX1234567's",
		"https://admin.microsoft.com/Adminportal/Home#/servicehealth/:/alerts/EX1234567",
		"?id=EX1234567&x", "url=https%3A%2F%2Fx%2FEX1234567", "%25%32%46EX12345",
		"XEX251945Z INV25194 EX251945Z EX25 EX123456789 MC123456 SP2019",
		"EX 1234567 EX-1234567 IT-00100", "EX12345.67", "éEX1234567", "EX1234567\u0301",
		"\xffEX1234567\xfe", "TM1112332,OD1234569;CP1203317", "",
		"障害EX315207が発生", "장애EX315207발생", "ЖEX315207", "αEX315207", "ＥＸ３１５２０７",
		"EX315\u200b207", "EX315\u00ad207", "EX①②③④⑤⑥", "EX315207¹", "EX٣١٥٢٠٧", "𝐄𝐗𝟑𝟏𝟓𝟐𝟎𝟕",
	} {
		f.Add(s)
	}
	for _, s := range corpusHeaders(f, "Subject") {
		f.Add(s)
	}
	p := newTestPolicy(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := p.IncidentIDs(s)
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Fatalf("IncidentIDs(%q) = %q, want sorted and unique", s, ids)
		}
		folded := foldForMatch(s)
		if want := foldSlow(s); folded != want {
			t.Fatalf("foldForMatch(%q) = %q, the plain per-character fold gives %q", s, folded, want)
		}
		if again := foldForMatch(folded); again != folded {
			t.Fatalf("foldForMatch(foldForMatch(%q)) = %q, want %q: folding twice must change nothing", s, again, folded)
		}
		upper := strings.ToUpper(folded)
		var decoded strings.Builder
		for _, d := range percentDecodings(folded) {
			decoded.WriteString(strings.ToUpper(foldForMatch(d)) + "\n")
		}
		for _, id := range ids {
			if !idShape.MatchString(id) || p.Service(id) == "" || strings.HasPrefix(id, "MC") {
				t.Fatalf("IncidentIDs(%q) includes %q, not a known-prefix incident ID", s, id)
			}
			if !strings.Contains(upper, id) && !strings.Contains(decoded.String(), id) {
				t.Fatalf("IncidentIDs(%q) includes %q, which the text as read does not contain", s, id)
			}
		}
		// The IDs found, written plainly, are found again and nothing more.
		if len(ids) > 0 {
			if again := p.IncidentIDs(strings.Join(ids, " ")); !slices.Equal(again, ids) {
				t.Fatalf("IncidentIDs(%q) = %q, want %q", strings.Join(ids, " "), again, ids)
			}
		}
		p.looseIncidentIDs(s)
	})
}

func FuzzParseAuthenticationResults(f *testing.F) {
	for _, s := range []string{
		"example.org 1; none",
		"example.com; spf=pass smtp.mailfrom=example.net",
		"example.com;\r\n      dkim=pass (good signature) header.d=example.com;\r\n      dkim/1=fail reason=\"bad signature\" header.i=@example.net",
		"spf=pass (sender IP is 40.107.22.59) smtp.mailfrom=contoso.com; dkim=pass (signature was verified) header.d=contoso.com;dmarc=pass action=none header.from=contoso.com;compauth=pass reason=100",
		"mx.google.com; dkim=pass header.i=@contoso.com header.s=s1 header.b=\"R/ATP5Q2\"; arc=pass (i=1 (nested) x); dmarc=pass (p=REJECT) header.from=contoso.com",
		`"quoted id"; x=y reason="a \"b\" ; c"`,
		"mx; =;;; dkim / 1 = pass", "(((", "\"", "a; b=(", ";", "",
	} {
		f.Add(s)
	}
	for _, s := range corpusHeaders(f, "Authentication-Results") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ar, err := ParseAuthenticationResults(s)
		for _, r := range ar.Results {
			if r.Method == "" || r.Result == "" {
				t.Fatalf("ParseAuthenticationResults(%q) has an empty method or result: %+v", s, r)
			}
			if strings.ContainsAny(r.Method+r.Result, " \t\r\n;=()\"") || r.Method != strings.ToLower(r.Method) || r.Result != strings.ToLower(r.Result) {
				t.Fatalf("ParseAuthenticationResults(%q) has a malformed method or result: %+v", s, r)
			}
		}
		again, err2 := ParseAuthenticationResults(s)
		if (err == nil) != (err2 == nil) || again.AuthservID != ar.AuthservID || len(again.Results) != len(ar.Results) {
			t.Fatalf("ParseAuthenticationResults(%q) is not deterministic", s)
		}
	})
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{
		"contoso.com", "Contoso.COM.", "bäckerei-münchen.de", "xn--bckerei-mnchen-5hb60b.de", "ＣＯＮＴＯＳＯ.com",
		"straße.de", "a..com", "[192.0.2.1]", "192.0.2.1", "localhost", "xn--zz.com", "con_toso.com",
		"contoso\xff.com", "a\u200b.com", ".", "", "co.uk", "mail.yahoo.co.jp", "x.onmicrosoft.com",
	} {
		f.Add(s)
	}
	p := newTestPolicy(f)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormalizeDomain(s)
		IsPersonalDomain(s)
		p.TenantByDomain(s)
		p.IsPartnerDomain(s)
		if err != nil {
			return
		}
		if d == "" || len(d) > 253 || !strings.Contains(d, ".") || strings.HasSuffix(d, ".") || d != strings.ToLower(d) {
			t.Fatalf("NormalizeDomain(%q) = %q, not a normalised domain", s, d)
		}
		for i := 0; i < len(d); i++ {
			if d[i] >= utf8.RuneSelf {
				t.Fatalf("NormalizeDomain(%q) = %q, not ASCII", s, d)
			}
		}
		if again, err := NormalizeDomain(d); err != nil || again != d {
			t.Fatalf("NormalizeDomain(%q) = %q, %v; want %q (idempotent)", d, again, err, d)
		}
		if org := OrganizationalDomain(d); !hasDomainSuffix(d, org) {
			t.Fatalf("OrganizationalDomain(%q) = %q, not d or a parent of d", d, org)
		}
	})
}

// FuzzJudge feeds arbitrary header and body text through Judge: it must
// never panic and its verdict must be consistent with its reason.
func FuzzJudge(f *testing.F) {
	f.Add("jane.doe@contoso.com", "Jane <jane.doe@contoso.com>", "EX1187453", stamp("pass", "contoso.com"), contosoID, false)
	f.Add("x@gmail.com", `"ceo@contoso.com" <x@gmail.com>`, "", "", fabrikamID, true)
	f.Add("olivia@northwind-partners.com", "", "EX1 EX-1234567", exoStamp("fail", "fail", "contoso.com"), "", true)
	f.Add("@", "<", "\xff", "(((", "{", false)
	p := newTestPolicy(f)
	f.Fuzz(func(t *testing.T, from, fromHeader, text, authres, guid string, nest bool) {
		m := &Message{From: from, FromHeader: fromHeader, Subject: text, Text: guid, ReplyTo: []string{fromHeader},
			AuthenticationResults: []string{authres}, DKIM: []DKIMResult{{Domain: guid, Pass: nest}}}
		if nest {
			m = &Message{From: "olivia@northwind-partners.com", Text: text, Originals: []Message{*m, *m}}
		}
		j := p.Judge(m)
		switch {
		case j.Verdict == Accepted && j.Reason != "",
			j.Verdict == Unmatched && j.Reason != ReasonNoIncidentID,
			j.Verdict == Rejected && (j.Reason == "" || j.Reason == ReasonNoIncidentID),
			j.Verdict == Accepted && (j.TenantID == "" || len(j.IncidentIDs) == 0):
			t.Fatalf("Judge = %+v: verdict and reason disagree", j)
		}
	})
}

// FuzzAuthenticate feeds arbitrary stamps, authors and DKIM results through
// authenticate and Judge: they must never panic, a pass must cover every
// author, and several authors are accepted only when authenticated.
func FuzzAuthenticate(f *testing.F) {
	f.Add(stamp("pass", "contoso.com"), "jane@contoso.com", "mark@it.contoso.com", "contoso.com", true, 1)
	f.Add(exoStamp("pass", "pass", "other-domain.example"), "jane@contoso.com", "billing@other-domain.example", "", false, 2)
	f.Add(exoStamp("bestguesspass", "pass", "Bäckerei-München.DE."), "hans@xn--bckerei-mnchen-5hb60b.de", "hans@fabrikam.co.uk", "fabrikam.co.uk", true, 1)
	f.Add(mx+`; dmarc=pass header.from="contoso.com"; compauth=pass`, "jane@contoso.com", "x@gmail.com", "gmail.com", true, 2)
	f.Add(mx+"; compauth=pass reason=100", "a@b", "@", "\xff", false, 0)
	for _, s := range corpusHeaders(f, "Authentication-Results") {
		f.Add(s, "jane.doe@contoso.com", "mark.ellis@it.contoso.com", "contoso.com", true, 1)
	}
	p := newTestPolicy(f)
	f.Fuzz(func(t *testing.T, authres, a1, a2, dkim string, pass bool, fields int) {
		m := &Message{From: a1, Authors: []string{a1, a2}, FromFields: fields, Subject: "EX1187453",
			AuthenticationResults: []string{authres}, DKIM: []DKIMResult{{Domain: dkim, Pass: pass}}}
		j := p.Judge(m)
		first, problem := readAuthor(a1)
		if problem != "" {
			return
		}
		authors, _ := readAuthors(m, first)
		o := p.authenticate(m, authors)
		if o.auth == AuthPass && (o.mismatch || len(o.uncovered) > 0) {
			t.Fatalf("authenticate(%q, %q) = pass with mismatch %v, uncovered %q", authres, m.Authors, o.mismatch, o.uncovered)
		}
		if len(authors) > 1 && j.Verdict == Accepted && j.Authentication != AuthPass {
			t.Fatalf("Judge(authors %q) accepted several authors with authentication %s: %q", m.Authors, j.Authentication, j.Warnings)
		}
	})
}

// FuzzAutomated feeds arbitrary field values through Automated and its
// hints: they must never panic, and Auto-Submitted "no" alone must never
// mark a message automatic (RFC 3834 section 5).
func FuzzAutomated(f *testing.F) {
	f.Add("auto-replied (vacation); owner-email=x", "bulk", "<>", "Automatic reply: EX1187453", "delivery-status")
	f.Add("no", "list", "<jane@contoso.com>", "RE: Automatische Antwort: EX1187453", "")
	f.Add("((\\", "\xff", "< >", "Réponse automatique : ", "disposition-notification")
	// Real values from the corpus, each in the place it came from.
	subjects := corpusHeaders(f, "Subject")
	for i, v := range corpusHeaders(f, "Auto-Submitted") {
		f.Add(v, "", "", subjects[i%len(subjects)], "")
	}
	for _, v := range corpusHeaders(f, "Precedence") {
		f.Add("", v, "", "", "")
	}
	for _, v := range corpusHeaders(f, "X-Auto-Response-Suppress") {
		f.Add("", "", v, "", "")
	}
	f.Fuzz(func(t *testing.T, autoSubmitted, precedence, xAutoreply, subject, reportType string) {
		fields := map[string]string{}
		for i, name := range AutomationFields() {
			fields[name] = []string{autoSubmitted, precedence, xAutoreply}[i%3]
		}
		m := &Message{From: "jane@contoso.com", Subject: subject, ReportType: reportType, AutoFields: fields}
		_ = Automated(m)
		_ = automationHints(m)
		if firstToken(autoSubmitted) == "no" {
			only := &Message{From: "jane@contoso.com", AutoFields: map[string]string{"Auto-Submitted": autoSubmitted}}
			if got := Automated(only); got != "" {
				t.Fatalf("Automated(Auto-Submitted: %q) = %q, want not automatic", autoSubmitted, got)
			}
		}
	})
}

// foldSlow is foldForMatch without its fast paths (the ASCII runs, the
// stable ranges): one character at a time, NFKC's own answer.
func foldSlow(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		c := s[i : i+n]
		i += n
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString("\ufffd")
		case r < utf8.RuneSelf:
			b.WriteString(c)
		case r == '\u00ad', r == '\u200b', r == '\u200c', r == '\u200d', r == '\u2060', r == '\ufeff':
		case unicode.In(r, unicode.No, unicode.Lm, unicode.So):
			b.WriteString(c)
		case norm.NFKC.PropertiesString(c).Decomposition() != nil &&
			!bytes.Equal(norm.NFKC.PropertiesString(c).Decomposition(), norm.NFC.PropertiesString(c).Decomposition()):
			b.WriteString(norm.NFKC.String(c))
		default:
			b.WriteString(c)
		}
	}
	return b.String()
}

// FuzzTenantIDs: every GUID found is canonical, stands alone in the text
// as read, and is found again when written plainly.
func FuzzTenantIDs(f *testing.F) {
	for _, s := range []string{
		"tenant " + contosoID, "{" + strings.ToUpper(fabrikamID) + "}", "id=%7B" + contosoID + "%7D",
		"x" + contosoID + "y", "テナント" + contosoID + "です", "Ж" + contosoID, "--------" + contosoID + "--------",
		"７２ｆ９８８ｂｆ－８６ｆ１－４１ａｆ－９１ａｂ－２ｄ７ｃｄ０１１ｄｂ４７", "72f988bf-\u200b86f1-41af-91ab-2d7cd011db47", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := TenantIDs(s)
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Fatalf("TenantIDs(%q) = %q, want sorted and unique", s, ids)
		}
		for _, id := range ids {
			if canon, ok := ParseTenantID(id); !ok || canon != id {
				t.Fatalf("TenantIDs(%q) includes %q, not a canonical GUID", s, id)
			}
		}
		if len(ids) > 0 {
			if again := TenantIDs(strings.Join(ids, " ")); !slices.Equal(again, ids) {
				t.Fatalf("TenantIDs(%q) = %q, want %q", strings.Join(ids, " "), again, ids)
			}
		}
	})
}

// FuzzParseIncidentID checks the one incident-ID grammar both ways: what
// ParseIncidentID accepts parses to itself, and the scanner finds it in a
// text when its prefix is known.
func FuzzParseIncidentID(f *testing.F) {
	for _, s := range []string{"EX1234567", " ex315207 ", "ZZ9999999", "MC123456", "EX12", "EX123456789", "ＥＸ３１５２０７", "EX-1234567"} {
		f.Add(s)
	}
	p, err := New(Config{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIncidentID(s)
		if err != nil {
			return
		}
		if again, err := ParseIncidentID(id); err != nil || again != id {
			t.Errorf("ParseIncidentID(%q) = %q, which parses to %q, %v", s, id, again, err)
		}
		if p.Service(id) != "" {
			if got := p.IncidentIDs("about " + id + "."); len(got) != 1 || got[0] != id {
				t.Errorf("IncidentIDs(%q) = %v, want [%s]", id, got, id)
			}
		}
	})
}
