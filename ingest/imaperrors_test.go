package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestClassifyLogin(t *testing.T) {
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	tests := []struct {
		name      string
		err       error
		permanent bool
		badCreds  bool
	}{
		{"Dovecot wrong password", no(imap.ResponseCodeAuthenticationFailed, "Authentication failed."), true, true},
		{"Exchange wrong password, no code", no("", "LOGIN failed."), true, true},
		{"account disabled", no(imap.ResponseCodeAuthorizationFailed, "Authorization failed"), true, true},
		{"server busy", no(imap.ResponseCodeUnavailable, "Temporary authentication failure."), false, false},
		{"Dovecot auth starting", no("", "Waiting for authentication process to respond.."), false, false},
		{"TLS required", no(imap.ResponseCodePrivacyRequired, "Plaintext authentication disallowed"), true, false},
		{"BAD command", &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Error in IMAP command"}, false, false},
		{"connection dropped", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false, false},
		{"cancelled", context.Canceled, false, false},
	}
	for _, tt := range tests {
		err := classifyLogin("support", tt.err)
		if IsPermanent(err) != tt.permanent || errors.Is(err, ErrBadCredentials) != tt.badCreds {
			t.Errorf("%s: classifyLogin = %v: permanent %v, bad credentials %v; want %v, %v",
				tt.name, err, IsPermanent(err), errors.Is(err, ErrBadCredentials), tt.permanent, tt.badCreds)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: classifyLogin lost the original error: %v", tt.name, err)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true},
		{"wrong host name", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "imap.example"}, true},
		{"plain port", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true},
		{"missing folder", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent}, true},
		{"no permission", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm}, true},
		{"over quota", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota}, false},
		{"in use", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse}, false},
		{"timeout", errTimeout, false},
		{"EOF", io.EOF, false},
		{"already permanent", permanent(errors.New("x")), true},
	}
	for _, tt := range tests {
		err := classify(tt.err)
		if IsPermanent(err) != tt.permanent {
			t.Errorf("%s: IsPermanent(classify(%v)) = %v, want %v", tt.name, tt.err, IsPermanent(err), tt.permanent)
		}
		if err.Error() == "" || !errors.Is(err, tt.err) && !errors.Is(err, ErrPermanent) {
			t.Errorf("%s: classify lost the original error: %v", tt.name, err)
		}
	}
	if classify(nil) != nil {
		t.Errorf("classify(nil) != nil")
	}
}
