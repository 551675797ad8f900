package rules

import (
	"fmt"
	"strings"
)

// AuthResults is one parsed Authentication-Results header (RFC 8601).
type AuthResults struct {
	// AuthservID names the server that wrote the header ("mx.google.com");
	// empty for Exchange Online's header, which starts with a result.
	AuthservID string
	Results    []AuthResult
}

// AuthResult is one method's result within an Authentication-Results
// header, such as "dmarc=pass action=none header.from=contoso.com".
type AuthResult struct {
	Method string // lower case, without a version: "dmarc", "dkim", "spf", "compauth", ...
	Result string // lower case: "pass", "fail", "none", "softpass", ...
	Reason string // the reason= value, unquoted; Exchange Online puts its compauth code here
	// Props maps each property, lower case, to its value as written
	// (unquoted): "header.from" -> "contoso.com", "smtp.mailfrom" ->
	// "jane@contoso.com". Properties without a ptype (Exchange Online's
	// "action") keep their bare name. The first of repeated keys wins.
	Props map[string]string
}

// Result returns the result of the first entry for method (lower case),
// and whether there is one.
func (a AuthResults) Result(method string) (AuthResult, bool) {
	for _, r := range a.Results {
		if r.Method == method {
			return r, true
		}
	}
	return AuthResult{}, false
}

// ParseAuthenticationResults parses the value of an Authentication-Results
// header (RFC 8601 section 2.2), also as Exchange Online writes it without
// an authserv-id ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=...").
// It is tolerant: comments, quoted values, folded lines, method versions
// ("dkim/1"), unknown methods and properties, a leading header name and a
// trailing ";" are accepted, and a result it cannot read is skipped up to
// the next ";". It returns every result it could read and, when it had to
// skip something, an error describing the first problem.
func ParseAuthenticationResults(v string) (AuthResults, error) {
	p := arParser{s: v}
	var out AuthResults

	p.skipCFWS()
	if len(p.s)-p.i >= len("authentication-results:") && strings.EqualFold(p.s[p.i:p.i+len("authentication-results:")], "authentication-results:") {
		p.i += len("authentication-results:")
		p.skipCFWS()
	}
	start := p.i
	id := p.readValue(";=")
	p.skipCFWS()
	if p.peek() == '=' {
		// No authserv-id: the header starts with "method=result".
		p.i = start
	} else {
		out.AuthservID = id
		if id == "" && !p.eof() && p.peek() != ';' {
			p.fail("missing authserv-id")
		}
		if v := p.readToken(";="); v != "" && !allDigits(v) {
			// Not a version: the ";" before the first result is missing.
			p.fail("expected \";\" after the authserv-id")
			p.i -= len(v)
		}
	}

	for {
		p.skipCFWS()
		if p.eof() {
			break
		}
		if p.peek() == ';' {
			p.i++
			p.skipCFWS()
			if p.eof() {
				break
			}
		}
		if r, ok := p.resinfo(len(out.Results) == 0); ok {
			out.Results = append(out.Results, r)
		}
	}
	return out, p.err
}

// arParser reads one header value; i only moves forward, so every loop
// ends.
type arParser struct {
	s   string
	i   int
	err error
}

func (p *arParser) eof() bool { return p.i >= len(p.s) }

func (p *arParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

// fail records the first problem, where it happened.
func (p *arParser) fail(msg string) {
	if p.err == nil {
		p.err = fmt.Errorf("rules: parse Authentication-Results: %s (at byte %d)", msg, p.i)
	}
}

// resinfo reads "method[/version]=result [reason=...] [ptype.prop=value...]"
// up to the next ";" (RFC 8601 section 2.2). first allows the "none" that
// stands for no results at all.
func (p *arParser) resinfo(first bool) (AuthResult, bool) {
	at := p.i
	method := p.readToken("=;/")
	p.skipCFWS()
	if p.peek() == '/' { // method-version, with CFWS allowed around "/"
		p.i++
		p.skipCFWS()
		p.readToken("=;")
		p.skipCFWS()
	}
	if method == "" {
		p.fail(fmt.Sprintf("unexpected %q", p.peek()))
		p.skipPast()
		return AuthResult{}, false
	}
	if p.peek() != '=' {
		if first && strings.EqualFold(method, "none") {
			return AuthResult{}, false // RFC 8601 no-result
		}
		p.i = at
		p.fail(fmt.Sprintf("method %q has no result", method))
		p.skipPast()
		return AuthResult{}, false
	}
	p.i++
	p.skipCFWS()
	result := p.readToken("=;")
	if result == "" {
		p.fail(fmt.Sprintf("method %q has no result", method))
		p.skipPast()
		return AuthResult{}, false
	}
	r := AuthResult{Method: strings.ToLower(method), Result: strings.ToLower(result)}
	for {
		p.skipCFWS()
		if p.eof() || p.peek() == ';' {
			return r, true
		}
		key := p.readToken("=;")
		if key == "" { // a stray "=" or quote
			p.fail(fmt.Sprintf("unexpected %q in the %s result", p.peek(), r.Method))
			p.skipPast()
			return r, true
		}
		p.skipCFWS()
		if p.peek() != '=' {
			continue // a bare word; RFC 8601 has none, some servers write them
		}
		p.i++
		p.skipCFWS()
		val := p.readValue(";")
		k := strings.ToLower(key)
		if k == "reason" {
			if r.Reason == "" {
				r.Reason = val
			}
			continue
		}
		if r.Props == nil {
			r.Props = make(map[string]string, 2)
		}
		if _, dup := r.Props[k]; !dup {
			r.Props[k] = val
		}
	}
}

// skipPast skips to the next ";" outside comments and quoted strings.
func (p *arParser) skipPast() {
	for !p.eof() {
		switch p.peek() {
		case ';':
			return
		case '(':
			p.skipComment()
		case '"':
			p.readQuoted()
		default:
			p.i++
		}
	}
}

// skipCFWS skips white space, folding and comments (RFC 5322 CFWS).
func (p *arParser) skipCFWS() {
	for !p.eof() {
		switch p.peek() {
		case ' ', '\t', '\r', '\n':
			p.i++
		case '(':
			p.skipComment()
		default:
			return
		}
	}
}

// skipComment skips a comment, nested ones and quoted pairs included; an
// unterminated comment runs to the end.
func (p *arParser) skipComment() {
	depth := 0
	for !p.eof() {
		switch p.s[p.i] {
		case '\\': // quoted-pair: skip the next byte, if there is one
			if p.i+1 < len(p.s) {
				p.i++
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				p.i++
				return
			}
		}
		p.i++
	}
	p.fail("unterminated comment")
}

// readToken reads up to white space, a parenthesis, a quote or a byte in
// stop.
func (p *arParser) readToken(stop string) string {
	start := p.i
	for !p.eof() {
		c := p.s[p.i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == ')' || c == '"' || strings.IndexByte(stop, c) >= 0 {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// readValue reads a quoted string, unquoted, or else a token.
func (p *arParser) readValue(stop string) string {
	if p.peek() == '"' {
		return p.readQuoted()
	}
	return p.readToken(stop)
}

// readQuoted reads a quoted string (p at its opening quote) and returns its
// content without quoted-pair backslashes.
func (p *arParser) readQuoted() string {
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String()
		case '\\':
			if !p.eof() {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		case '\r', '\n':
			// folding inside a quoted string is white space
		default:
			b.WriteByte(c)
		}
	}
	p.fail("unterminated quoted string")
	return b.String()
}
