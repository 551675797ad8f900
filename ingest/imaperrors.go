package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Error kinds of the IMAP source; test with errors.Is. Every error the IMAP
// code returns has been sorted once, where it arose: permanent ones wrap
// ErrPermanent, everything else is temporary and worth a retry later.
var (
	// ErrPermanent: retrying cannot help until someone changes the
	// configuration or the server (bad credentials, an untrusted
	// certificate, a missing folder).
	ErrPermanent = errors.New("permanent failure")
	// ErrBadCredentials: the server or the token endpoint refused the
	// credentials. Always also ErrPermanent.
	ErrBadCredentials = errors.New("credentials refused")
	// ErrUIDValidityChanged: the folder's UIDVALIDITY differs from the
	// checkpoint's, so the checkpoint's UIDs name other messages now.
	ErrUIDValidityChanged = errors.New("UIDVALIDITY changed")
	// errTimeout: the server did not answer in time; the connection is
	// closed and the operation may be retried on a new one.
	errTimeout = errors.New("no answer from the server in time")
)

// IsPermanent reports whether err is not worth retrying.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// kindError attaches kinds (sentinels) to an error without changing its text.
type kindError struct {
	err   error
	kinds []error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return append([]error{e.err}, e.kinds...) }

func permanent(err error) error { return &kindError{err, []error{ErrPermanent}} }

func badCredentials(err error) error {
	return &kindError{err, []error{ErrBadCredentials, ErrPermanent}}
}

// classify sorts an error from the IMAP client into permanent or temporary.
// Login errors are sorted by classifyLogin instead.
func classify(err error) error {
	if err == nil || IsPermanent(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return permanent(fmt.Errorf("the server does not speak TLS on this port (check port and security): %w", err))
	}
	if isCertificateError(err) {
		return permanent(fmt.Errorf("the server's certificate is not trusted (check host and tls_ca_file): %w", err))
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case imap.ResponseCodeNonExistent:
			return permanent(fmt.Errorf("the folder does not exist (check folders in the configuration): %w", err))
		case imap.ResponseCodeNoPerm, imap.ResponseCodePrivacyRequired, imap.ResponseCodeContactAdmin:
			return permanent(err)
		}
	}
	return err
}

// classifyLogin sorts a LOGIN/AUTHENTICATE failure. A NO without a code
// saying "try later" means the credentials were refused: servers such as
// Exchange Online answer "NO LOGIN failed." without any code.
func classifyLogin(mailbox string, err error) error {
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		return classify(err)
	}
	switch ie.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse, imap.ResponseCodeServerBug, imap.ResponseCodeLimit:
		return err
	case imap.ResponseCodePrivacyRequired:
		return permanent(fmt.Errorf("the server refuses to log in without TLS (set security: tls or starttls for mailbox %q): %w", mailbox, err))
	}
	if strings.Contains(strings.ToLower(ie.Text), "waiting for authentication") {
		return err // Dovecot's auth process is still starting
	}
	return badCredentials(fmt.Errorf("check username/password for mailbox %q: %w", mailbox, err))
}

func isCertificateError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}
