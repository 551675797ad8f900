package ingesttest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

func TestDovecotAppendSurvivesRestart(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t, "a@partner.test", "b@partner.test")
	if d.Password("a@partner.test") == d.Password("b@partner.test") {
		t.Errorf("Password: two users share the password %q", d.Password("a@partner.test"))
	}
	uids := d.Append(t, "a@partner.test", "INBOX", NewMessage(1, "one", 500), NewMessage(2, "two", 500))
	if want := []uint32{1, 2}; !slices.Equal(uids, want) {
		t.Fatalf("Append = %v, want %v", uids, want)
	}
	d.Stop()
	d.Start()
	if got := d.UIDs(t, "a@partner.test", "INBOX"); !slices.Equal(got, uids) {
		t.Errorf("UIDs after restart = %v, want %v", got, uids)
	}
	if got := d.UIDs(t, "b@partner.test", "INBOX"); len(got) != 0 {
		t.Errorf("UIDs of the other user = %v, want none", got)
	}
	if got := d.UIDs(t, "a@partner.test", "NoSuchFolder"); len(got) != 0 {
		t.Errorf("UIDs(NoSuchFolder) = %v, want none", got)
	}
}

func TestDovecotTLSListenerTrustsCAFile(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CAFile %s holds no certificate", d.CAFile)
	}
	c, err := imapclient.DialTLS(d.addr(d.TLSPort), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatalf("DialTLS with CAFile: %v", err)
	}
	defer c.Close()
	if err := c.Login(DefaultUser, d.Password(DefaultUser)).Wait(); err != nil {
		t.Errorf("Login over TLS: %v", err)
	}
	// Without the CA the system roots must refuse the certificate.
	if c2, err := imapclient.DialTLS(d.addr(d.TLSPort), nil); err == nil {
		c2.Close()
		t.Errorf("DialTLS without CAFile succeeded, want a certificate error")
	}
}

func TestNewMessageSize(t *testing.T) {
	for _, size := range []int{600, 8 << 10, 100 << 10} {
		m := NewMessage(7, "size", size)
		if len(m) > size || len(m) < size-72 {
			t.Errorf("NewMessage(size %d) has %d bytes, want %d-%d", size, len(m), size-72, size)
		}
	}
}
