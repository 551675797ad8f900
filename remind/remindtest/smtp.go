// Package remindtest is a local SMTP server for tests: enough of RFC 5321
// (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to
// receive claimtrail's reminders on 127.0.0.1 and keep them for the test.
package remindtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPOptions shape the server.
type SMTPOptions struct {
	// STARTTLS offers STARTTLS; ImplicitTLS speaks TLS from the start.
	STARTTLS, ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN) before
	// MAIL; a wrong pair gets 535.
	Username, Password string
	// FailMail answers 451 (try again later) to the first FailMail MAIL
	// commands.
	FailMail int
}

// Message is one message received.
type Message struct {
	From string
	To   []string
	Data string // with CRLF line ends, dot-stuffing undone
	TLS  bool   // received over TLS
	User string // who logged in, "" for nobody
}

// SMTPServer is the running server.
type SMTPServer struct {
	Host string // 127.0.0.1
	Port int
	// ClientTLS trusts the server's certificate (RootCAs, ServerName).
	ClientTLS *tls.Config

	opts     SMTPOptions
	tls      *tls.Config
	ln       net.Listener
	mu       sync.Mutex
	msgs     []Message
	failMail int
	mails    int // MAIL commands seen
}

// NewSMTPServer starts a server on 127.0.0.1 at a random port; it stops
// when the test ends.
func NewSMTPServer(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	cert, pool := selfSigned(t)
	s := &SMTPServer{opts: opts, failMail: opts.FailMail,
		tls:       &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ClientTLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	a := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", a.Port
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

// Messages returns the messages received so far.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// MailCommands counts the MAIL commands received, failed ones too.
func (s *SMTPServer) MailCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mails
}

func (s *SMTPServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	_, isTLS := c.(*tls.Conn)
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	reply("220 127.0.0.1 ESMTP remindtest")
	var msg Message
	var user string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			exts := []string{"250-127.0.0.1", "250-8BITMIME"}
			if s.opts.STARTTLS && !isTLS {
				exts = append(exts, "250-STARTTLS")
			}
			if s.opts.Username != "" {
				exts = append(exts, "250-AUTH PLAIN")
			}
			exts = append(exts, "250 SIZE 10240000")
			for _, e := range exts {
				w.WriteString(e + "\r\n")
			}
			w.Flush()
		case "STARTTLS":
			if !s.opts.STARTTLS || isTLS {
				reply("502 5.5.1 not offered")
				continue
			}
			reply("220 2.0.0 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
			user, msg = "", Message{}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := bytes.Split(b, []byte{0})
			if strings.ToUpper(mech) != "PLAIN" || err != nil || len(parts) != 3 ||
				string(parts[1]) != s.opts.Username || string(parts[2]) != s.opts.Password {
				reply("535 5.7.8 authentication failed")
				continue
			}
			user = string(parts[1])
			reply("235 2.7.0 authenticated")
		case "MAIL":
			s.mu.Lock()
			s.mails++
			fail := s.failMail > 0
			if fail {
				s.failMail--
			}
			s.mu.Unlock()
			switch {
			case s.opts.Username != "" && user == "":
				reply("530 5.7.0 authentication required")
			case fail:
				reply("451 4.3.0 try again later")
			default:
				msg = Message{From: addr(arg), TLS: isTLS, User: user}
				reply("250 2.1.0 ok")
			}
		case "RCPT":
			if msg.From == "" {
				reply("503 5.5.1 MAIL first")
				continue
			}
			msg.To = append(msg.To, addr(arg))
			reply("250 2.1.5 ok")
		case "DATA":
			if len(msg.To) == 0 {
				reply("503 5.5.1 RCPT first")
				continue
			}
			reply("354 end with .")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			msg.Data = data.String()
			s.mu.Lock()
			s.msgs = append(s.msgs, msg)
			s.mu.Unlock()
			msg = Message{}
			reply("250 2.0.0 queued")
		case "RSET":
			msg = Message{}
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unknown command")
		}
	}
}

// addr takes the address out of "FROM:<a@b> SIZE=12".
func addr(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	a, _, _ := strings.Cut(rest, ">")
	return a
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "remindtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
