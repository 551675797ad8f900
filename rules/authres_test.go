package rules

import (
	"reflect"
	"testing"
)

func TestParseAuthenticationResults(t *testing.T) {
	type res = AuthResult
	props := func(kv ...string) map[string]string {
		m := make(map[string]string)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		in      string
		want    AuthResults
		wantErr bool
	}{
		{
			name: "RFC 8601 appendix B.2: nothing done",
			in:   "example.org 1; none",
			want: AuthResults{AuthservID: "example.org"},
		},
		{
			name: "RFC 8601 appendix B.3: SPF",
			in:   "example.com; spf=pass smtp.mailfrom=example.net",
			want: AuthResults{AuthservID: "example.com", Results: []res{{Method: "spf", Result: "pass", Props: props("smtp.mailfrom", "example.net")}}},
		},
		{
			name: "RFC 8601 appendix B.4: several methods, comments, folding",
			in: "example.com;\r\n" +
				"          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n" +
				"          spf=pass smtp.mailfrom=example.net",
			want: AuthResults{AuthservID: "example.com", Results: []res{
				{Method: "auth", Result: "pass", Props: props("smtp.auth", "sender@example.net")},
				{Method: "spf", Result: "pass", Props: props("smtp.mailfrom", "example.net")},
			}},
		},
		{
			name: "RFC 8601 appendix B.5: version, reason, local-part@domain",
			in: "example.com;\r\n" +
				"      dkim=pass (good signature) header.d=example.com;\r\n" +
				"      dkim/1=fail reason=\"bad signature\" header.i=@example.net",
			want: AuthResults{AuthservID: "example.com", Results: []res{
				{Method: "dkim", Result: "pass", Props: props("header.d", "example.com")},
				{Method: "dkim", Result: "fail", Reason: "bad signature", Props: props("header.i", "@example.net")},
			}},
		},
		{
			name: "RFC 8601 appendix B.6: comment inside the authserv-id area, CFWS around =",
			in:   "mail-router.example.net (a comment);\r\n\tdkim = pass (good signature) header.d = newyork.example.com",
			want: AuthResults{AuthservID: "mail-router.example.net", Results: []res{
				{Method: "dkim", Result: "pass", Props: props("header.d", "newyork.example.com")},
			}},
		},
		{
			name: "Exchange Online: no authserv-id",
			in: "spf=pass (sender IP is 40.107.22.59) smtp.mailfrom=contoso.com; dkim=pass (signature was verified)\r\n" +
				" header.d=contoso.com;dmarc=pass action=none header.from=contoso.com;compauth=pass\r\n reason=100",
			want: AuthResults{Results: []res{
				{Method: "spf", Result: "pass", Props: props("smtp.mailfrom", "contoso.com")},
				{Method: "dkim", Result: "pass", Props: props("header.d", "contoso.com")},
				{Method: "dmarc", Result: "pass", Props: props("action", "none", "header.from", "contoso.com")},
				{Method: "compauth", Result: "pass", Reason: "100"},
			}},
		},
		{
			name: "Exchange Online: spoof",
			in: "spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=contoso.com; dkim=none (message not signed)\r\n" +
				" header.d=none;dmarc=fail action=oreject header.from=contoso.com;compauth=fail reason=000",
			want: AuthResults{Results: []res{
				{Method: "spf", Result: "fail", Props: props("smtp.mailfrom", "contoso.com")},
				{Method: "dkim", Result: "none", Props: props("header.d", "none")},
				{Method: "dmarc", Result: "fail", Props: props("action", "oreject", "header.from", "contoso.com")},
				{Method: "compauth", Result: "fail", Reason: "000"},
			}},
		},
		{
			name: "Gmail: quoted header.b, ARC comment, p= comment",
			in: "mx.google.com;\r\n       dkim=pass header.i=@contoso.com header.s=selector1 header.b=\"R/ATP5Q2\";\r\n" +
				"       arc=pass (i=1 spf=pass spfdomain=contoso.com dkim=pass dkdomain=contoso.com dmarc=pass fromdomain=contoso.com);\r\n" +
				"       spf=pass (google.com: domain of jane@contoso.com designates 40.107.1.2 as permitted sender) smtp.mailfrom=jane@contoso.com;\r\n" +
				"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=contoso.com",
			want: AuthResults{AuthservID: "mx.google.com", Results: []res{
				{Method: "dkim", Result: "pass", Props: props("header.i", "@contoso.com", "header.s", "selector1", "header.b", "R/ATP5Q2")},
				{Method: "arc", Result: "pass"},
				{Method: "spf", Result: "pass", Props: props("smtp.mailfrom", "jane@contoso.com")},
				{Method: "dmarc", Result: "pass", Props: props("header.from", "contoso.com")},
			}},
		},
		{
			name: "header name included, upper case, trailing semicolon",
			in:   "Authentication-Results: MX.Contoso.COM; DMARC=PASS Header.From=contoso.com;",
			want: AuthResults{AuthservID: "MX.Contoso.COM", Results: []res{{Method: "dmarc", Result: "pass", Props: props("header.from", "contoso.com")}}},
		},
		{
			name: "base64 value with padding",
			in:   "mx.example; dkim=pass header.b=abc+/de==",
			want: AuthResults{AuthservID: "mx.example", Results: []res{{Method: "dkim", Result: "pass", Props: props("header.b", "abc+/de==")}}},
		},
		{
			name: "quoted authserv-id and escaped quote in a value",
			in:   `"mx.example.com"; x-custom=pass reason="a \"quoted\" (not a comment); word"`,
			want: AuthResults{AuthservID: "mx.example.com", Results: []res{{Method: "x-custom", Result: "pass", Reason: `a "quoted" (not a comment); word`}}},
		},
		{
			name: "nested comment",
			in:   "mx.example; spf=pass (outer (inner) still) smtp.mailfrom=a.example",
			want: AuthResults{AuthservID: "mx.example", Results: []res{{Method: "spf", Result: "pass", Props: props("smtp.mailfrom", "a.example")}}},
		},
		{
			name:    "garbage result skipped, the rest kept",
			in:      "mx.example; =pass; dmarc=fail header.from=contoso.com",
			want:    AuthResults{AuthservID: "mx.example", Results: []res{{Method: "dmarc", Result: "fail", Props: props("header.from", "contoso.com")}}},
			wantErr: true,
		},
		{
			name:    "method without result",
			in:      "mx.example; dkim; spf=pass",
			want:    AuthResults{AuthservID: "mx.example", Results: []res{{Method: "spf", Result: "pass"}}},
			wantErr: true,
		},
		{
			name:    "missing semicolon after authserv-id",
			in:      "mx.example dmarc=pass",
			want:    AuthResults{AuthservID: "mx.example", Results: []res{{Method: "dmarc", Result: "pass"}}},
			wantErr: true,
		},
		{
			name:    "unterminated comment",
			in:      "mx.example; spf=pass (oops",
			want:    AuthResults{AuthservID: "mx.example", Results: []res{{Method: "spf", Result: "pass"}}},
			wantErr: true,
		},
		{
			name:    "unterminated quoted string",
			in:      `mx.example; spf=pass reason="oops`,
			want:    AuthResults{AuthservID: "mx.example", Results: []res{{Method: "spf", Result: "pass", Reason: "oops"}}},
			wantErr: true,
		},
		{
			name: "empty",
			in:   "",
			want: AuthResults{},
		},
		{
			name: "first of repeated properties wins",
			in:   "mx.example; dmarc=pass header.from=a.example header.from=b.example",
			want: AuthResults{AuthservID: "mx.example", Results: []res{{Method: "dmarc", Result: "pass", Props: props("header.from", "a.example")}}},
		},
	}
	for _, tt := range tests {
		got, err := ParseAuthenticationResults(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: ParseAuthenticationResults(%q) error = %v, want error %v", tt.name, tt.in, err, tt.wantErr)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ParseAuthenticationResults(%q) =\n%+v\nwant\n%+v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestAuthResultsResult(t *testing.T) {
	ar, _ := ParseAuthenticationResults("mx.example; dkim=fail; dkim=pass header.d=a.example; dmarc=pass")
	if r, ok := ar.Result("dkim"); !ok || r.Result != "fail" {
		t.Errorf("Result(dkim) = %+v, %v; want the first dkim entry (fail)", r, ok)
	}
	if r, ok := ar.Result("compauth"); ok {
		t.Errorf("Result(compauth) = %+v, true; want none", r)
	}
}
