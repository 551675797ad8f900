package ingest_test

// Fast tests against go-imap's in-memory server, for behaviour Dovecot
// cannot be made to show: a COPY that fails, and a scripted XOAUTH2 server.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

const (
	memUser     = "claims@partner.test"
	memPassword = "secret"
)

// memServer runs an in-memory IMAP server with caps; wrap, when not nil,
// replaces each session. It returns the mailbox config and the user.
func memServer(t *testing.T, caps imap.CapSet, wrap func(imapserver.Session) imapserver.Session) (ingest.MailboxConfig, *imapmemserver.User) {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(memUser, memPassword)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			s := mem.NewSession()
			if wrap != nil {
				s = wrap(s)
			}
			return s, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ingest.MailboxConfig{
		Name:     "mem",
		Host:     "127.0.0.1",
		Port:     ln.Addr().(*net.TCPAddr).Port,
		Security: ingest.SecurityInsecure,
		Username: memUser,
		Password: memPassword,
	}, u
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

func memAppend(t *testing.T, u *imapmemserver.User, folder string, msg []byte) {
	t.Helper()
	if _, err := u.Append(folder, literal{bytes.NewReader(msg)}, &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

// failingCopy refuses every COPY, as a server over quota does.
type failingCopy struct{ imapserver.Session }

func (failingCopy) Copy(imap.NumSet, string) (*imap.CopyData, error) {
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded"}
}

// go-imap's Move fallback would delete the messages here; Move must not.
func TestMoveKeepsMailWhenCopyFails(t *testing.T) {
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
	cfg, u := memServer(t, caps, func(s imapserver.Session) imapserver.Session { return failingCopy{s} })
	memAppend(t, u, "INBOX", ingesttest.NewMessage(1, "a", 600))
	memAppend(t, u, "INBOX", ingesttest.NewMessage(2, "b", 600))
	conn := dial(t, cfg, testOptions(t))
	ctx := context.Background()
	if conn.Capable("MOVE") {
		t.Fatal("test server announces MOVE; the COPY path is not tested")
	}
	err := conn.Move(ctx, "INBOX", 0, []uint32{1, 2}, "Accepted")
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("Move with a failing COPY: err = %v, want the server's OVERQUOTA", err)
	}
	if ingest.IsPermanent(err) {
		t.Errorf("Move error %v is permanent, want temporary (quota can be raised)", err)
	}
	st, err := conn.Select(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 {
		t.Errorf("INBOX holds %d messages after the failed move, want 2", st.Messages)
	}
	// Nothing may be marked either: the next attempt must copy again.
	got := fetchAll(t, conn, "INBOX", ingest.Checkpoint{})
	if len(got) != 2 {
		t.Errorf("FetchNew after the failed move yielded %v, want both messages", uidsOf(got))
	}
	status, err := u.Status("INBOX", &imap.StatusOptions{NumDeleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if status.NumDeleted != nil && *status.NumDeleted != 0 {
		t.Errorf("%d messages carry \\Deleted after the failed move, want 0", *status.NumDeleted)
	}
}

// xoauth2Session is an in-memory session that takes SASL XOAUTH2 with the
// tokens in valid, as Exchange Online would.
type xoauth2Session struct {
	imapserver.Session
	valid map[string]bool
	seen  *[]string
	mu    *sync.Mutex
}

func (s xoauth2Session) AuthenticateMechanisms() []string { return []string{"XOAUTH2"} }

func (s xoauth2Session) Authenticate(mech string) (sasl.Server, error) {
	if mech != "XOAUTH2" {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "unsupported mechanism"}
	}
	failed := false
	return saslFunc(func(resp []byte) ([]byte, bool, error) {
		if failed {
			// The client's empty answer to the error challenge.
			return nil, false, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "AUTHENTICATE failed."}
		}
		parts := strings.Split(string(resp), "\x01")
		if len(parts) != 4 || !strings.HasPrefix(parts[0], "user=") || !strings.HasPrefix(parts[1], "auth=Bearer ") {
			return nil, false, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "malformed XOAUTH2"}
		}
		user, token := strings.TrimPrefix(parts[0], "user="), strings.TrimPrefix(parts[1], "auth=Bearer ")
		s.mu.Lock()
		*s.seen = append(*s.seen, token)
		s.mu.Unlock()
		if !s.valid[token] || user != memUser {
			failed = true
			return []byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}`), false, nil
		}
		return nil, true, s.Login(memUser, memPassword)
	}), nil
}

type saslFunc func([]byte) ([]byte, bool, error)

func (f saslFunc) Next(resp []byte) ([]byte, bool, error) { return f(resp) }

// tokens hands out its tokens in order and counts invalidations.
type tokens struct {
	mu          sync.Mutex
	list        []string
	next        int
	invalidated int
}

func (ts *tokens) Token(context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tok := ts.list[min(ts.next, len(ts.list)-1)]
	return tok, nil
}

func (ts *tokens) Invalidate() {
	ts.mu.Lock()
	ts.next++
	ts.invalidated++
	ts.mu.Unlock()
}

func TestXOAuth2LoginRetriesOnceWithFreshToken(t *testing.T) {
	tests := []struct {
		name            string
		tokens          []string
		wantErr         bool
		wantSent        []string
		wantInvalidated int
	}{
		{"valid token", []string{"good"}, false, []string{"good"}, 0},
		{"revoked cached token, fresh one works", []string{"revoked", "good"}, false, []string{"revoked", "good"}, 1},
		{"refused twice", []string{"bad1", "bad2", "good"}, true, []string{"bad1", "bad2"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			cfg, _ := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}}, func(s imapserver.Session) imapserver.Session {
				return xoauth2Session{Session: s, valid: map[string]bool{"good": true}, seen: &seen, mu: &mu}
			})
			cfg.Auth, cfg.Password = ingest.AuthXOAuth2, ""
			cfg.OAuth = ingest.OAuth{ClientID: "app", ClientSecret: "s", Tenant: "contoso.example"}
			opts := testOptions(t)
			ts := &tokens{list: tt.tokens}
			opts.TokenSource = ts
			conn, err := ingest.DialIMAP(context.Background(), cfg, opts)
			if tt.wantErr {
				if !errors.Is(err, ingest.ErrBadCredentials) || !strings.Contains(err.Error(), "token was refused") {
					t.Errorf("DialIMAP err = %v, want ErrBadCredentials saying the token was refused", err)
				}
			} else if err != nil {
				t.Errorf("DialIMAP: %v", err)
			} else {
				if _, err := conn.Select(context.Background(), "INBOX"); err != nil {
					t.Errorf("Select after XOAUTH2 login: %v", err)
				}
				conn.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(seen, ",") != strings.Join(tt.wantSent, ",") {
				t.Errorf("tokens sent = %v, want %v", seen, tt.wantSent)
			}
			if ts.invalidated != tt.wantInvalidated {
				t.Errorf("Invalidate called %d times, want %d", ts.invalidated, tt.wantInvalidated)
			}
		})
	}
}

func TestXOAuth2RefusedWithoutServerSupport(t *testing.T) {
	cfg, _ := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}}, nil)
	cfg.Auth, cfg.Password = ingest.AuthXOAuth2, ""
	cfg.OAuth = ingest.OAuth{ClientID: "app", ClientSecret: "s", Tenant: "contoso.example"}
	opts := testOptions(t)
	opts.TokenSource = &tokens{list: []string{"good"}}
	_, err := ingest.DialIMAP(context.Background(), cfg, opts)
	if !ingest.IsPermanent(err) || !strings.Contains(err.Error(), "AUTH=XOAUTH2") {
		t.Errorf("DialIMAP against a server without XOAUTH2: err = %v, want a permanent error naming AUTH=XOAUTH2", err)
	}
}

func TestStartTLSRefusedIsPermanent(t *testing.T) {
	cfg, _ := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}}, nil) // no TLSConfig: no STARTTLS
	cfg.Security = ingest.SecurityStartTLS
	_, err := ingest.DialIMAP(context.Background(), cfg, testOptions(t))
	if !ingest.IsPermanent(err) || !strings.Contains(err.Error(), "refuses STARTTLS") {
		t.Errorf("DialIMAP with STARTTLS to a server without it: err = %v, want a permanent error saying it refuses STARTTLS", err)
	}
}
