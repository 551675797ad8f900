package remind

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// SMTP mails each reminder to a list of addresses.
type SMTP struct {
	cfg SMTPConfig // WithDefaults applied
	// tls is the TLS configuration; tests set RootCAs.
	tls *tls.Config
}

// NewSMTP returns the email channel for cfg (with defaults applied).
func NewSMTP(cfg SMTPConfig) *SMTP {
	return &SMTP{cfg: cfg, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}}
}

// Name is "smtp".
func (s *SMTP) Name() string { return "smtp" }

// Send mails m to every recipient in one transaction. A 5xx reply (a
// refused login or address) is ErrPermanent; a 4xx or a broken connection
// is temporary.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	msg, err := s.compose(m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	err = s.send(ctx, msg)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return fmt.Errorf("%w: smtp %s: %v", ErrPermanent, s.cfg.Host, err)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.cfg.Host, err)
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, msg []byte) (err error) {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	var d net.Dialer
	var conn net.Conn
	if s.cfg.Security == SecurityTLS {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.tls}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return err
	}
	if s.cfg.Security == SecuritySTARTTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%w: the server does not offer STARTTLS; use security: tls (port 465), or none for a relay on this host", ErrPermanent)
		}
		if err := c.StartTLS(s.tls); err != nil {
			return err
		}
	}
	if s.cfg.Username != "" {
		// PlainAuth refuses to send the password without TLS, except
		// to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password.Reveal(), s.cfg.Host)); err != nil {
			return fmt.Errorf("log in as %s: %w", s.cfg.Username, err)
		}
	}
	from, _ := mail.ParseAddress(s.cfg.From)
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	for _, to := range s.cfg.To {
		a, _ := mail.ParseAddress(to)
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// helloName is the name claimtrail greets the server with.
func helloName() string {
	return "claimtrail.localdomain"
}

// compose writes m as an RFC 5322 message in UTF-8, quoted-printable.
func (s *SMTP) compose(m Message) ([]byte, error) {
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp.from %q: %v", s.cfg.From, err)
	}
	var to []string
	for _, t := range s.cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("smtp.to %q: %v", t, err)
		}
		to = append(to, a.String())
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Title()))
	hdr("Date", m.Now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(rnd[:])+"@"+domain+">")
	hdr("X-Claimtrail-Reminder", mime.QEncoding.Encode("utf-8", m.ID()))
	hdr("Auto-Submitted", "auto-generated") // RFC 3834
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Text(), "\n", "\r\n")))
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
