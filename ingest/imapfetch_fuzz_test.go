package ingest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// scriptedServer answers one client over c: fixed answers to everything
// but UID SEARCH and UID FETCH, whose untagged data come from the caller:
// meta for the FETCH of sizes, body for the FETCH of bodies.
func scriptedServer(c net.Conn, search, meta, body string) {
	defer c.Close()
	w := bufio.NewWriter(c)
	r := bufio.NewReader(c)
	say := func(s string) { w.WriteString(s); w.Flush() }
	say("* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd = strings.ToUpper(cmd)
		switch {
		case strings.HasPrefix(cmd, "CAPABILITY"):
			say("* CAPABILITY IMAP4rev1 UIDPLUS\r\n" + tag + " OK done\r\n")
		case strings.HasPrefix(cmd, "SELECT"):
			say("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 10] ok\r\n" + tag + " OK [READ-WRITE] done\r\n")
		case strings.HasPrefix(cmd, "UID SEARCH"):
			say(search + tag + " OK done\r\n")
		case strings.HasPrefix(cmd, "UID FETCH") && strings.Contains(cmd, "BODY"):
			say(body + tag + " OK done\r\n")
		case strings.HasPrefix(cmd, "UID FETCH"):
			say(meta + tag + " OK done\r\n")
		case strings.HasPrefix(cmd, "LOGOUT"):
			say("* BYE bye\r\n" + tag + " OK done\r\n")
			return
		default:
			say(tag + " OK done\r\n")
		}
	}
}

// FuzzFetchNewServerAnswers feeds FetchNew arbitrary SEARCH and FETCH
// answers: whatever a broken or hostile server sends, FetchNew returns
// (an error or messages), never panics, and leaves no spool file behind.
func FuzzFetchNewServerAnswers(f *testing.F) {
	body := "From: a@contoso.example\r\nSubject: x\r\n\r\nhi\r\n"
	meta := "* 1 FETCH (UID 1 RFC822.SIZE 43 INTERNALDATE \"02-Mar-2026 10:00:00 +0000\")\r\n"
	f.Add("* SEARCH 1 2 3\r\n", meta, "* 1 FETCH (UID 1 BODY[] {43}\r\n"+body+")\r\n")
	f.Add("* SEARCH 9\r\n", "* 3 FETCH (UID 9 RFC822.SIZE 999999999)\r\n", "* 3 FETCH (UID 9 BODY[] NIL)\r\n")
	f.Add("* SEARCH 2:*\r\n", meta, "* 1 FETCH (BODY[] {5}\r\nabc")
	f.Add("* SEARCH\r\n", "", "")
	f.Add("* ESEARCH (TAG \"x\") UID ALL 1:3\r\n", "* 1 FETCH (UID 0 RFC822.SIZE -1)\r\n", "")
	f.Fuzz(func(t *testing.T, search, meta, body string) {
		client, server := net.Pipe()
		go scriptedServer(server, search, meta, body)
		spool := t.TempDir()
		cfg := MailboxConfig{Name: "fuzz", Host: "127.0.0.1", Username: "u", Password: "p", Security: SecurityInsecure}.WithDefaults()
		cfg.MaxMessageBytes = 1 << 16
		conn := &IMAPConn{
			cfg:     cfg,
			opts:    (&IMAPOptions{SpoolDir: spool, CommandTimeout: 200 * time.Millisecond, Logger: discard()}).withDefaults(),
			exists:  make(chan struct{}, 1),
			created: map[string]bool{},
		}
		conn.log = conn.opts.Logger
		conn.c = imapclient.New(client, nil)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := conn.FetchNew(ctx, "INBOX", Checkpoint{}, func(m *Message) error {
			if m.Path != "" {
				if _, err := os.Stat(m.Path); err != nil {
					t.Errorf("message %d: spool file: %v", m.UID, err)
				}
			} else if m.Skip == "" {
				t.Errorf("message %d has neither a spool file nor a skip reason", m.UID)
			}
			return nil
		})
		_ = err // any error is fine; a panic or a leak is not
		if n := len(mustReadDir(t, spool)); n != 0 {
			t.Errorf("%d spool files left behind", n)
		}
	})
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	e, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The fuzz harness must reach the spooling code: these answers, from a
// sane and a broken server, give the messages they describe.
func TestFetchNewFromScriptedServer(t *testing.T) {
	body := "From: a@contoso.example\r\nSubject: x\r\n\r\nhi\r\n"
	sum := sha256.Sum256([]byte(body))
	meta := "* 1 FETCH (UID 5 RFC822.SIZE 43 INTERNALDATE \"02-Mar-2026 10:00:00 +0000\")\r\n"
	tests := []struct {
		name   string
		search string
		body   string
		want   string // uid:skip-or-sha prefix, comma separated
	}{
		{"one message", "* SEARCH 5\r\n", "* 1 FETCH (UID 5 BODY[] {43}\r\n" + body + ")\r\n", "5:" + hex.EncodeToString(sum[:2])},
		{"highest UID below the checkpoint", "* SEARCH 3\r\n", "", ""},
		{"NIL body", "* SEARCH 5\r\n", "* 1 FETCH (UID 5 BODY[] NIL)\r\n", "5:no_body"},
		{"expunged before the body fetch", "* SEARCH 5\r\n", "", ""},
		{"announced small, sent big", "* SEARCH 5\r\n", "* 1 FETCH (UID 5 BODY[] {70000}\r\n" + strings.Repeat("x", 70000) + ")\r\n", "5:too_large"},
	}
	for _, tt := range tests {
		client, server := net.Pipe()
		go scriptedServer(server, tt.search, meta, tt.body)
		spool := t.TempDir()
		cfg := MailboxConfig{Name: "s", Host: "127.0.0.1", Username: "u", Password: "p", Security: SecurityInsecure}.WithDefaults()
		cfg.MaxMessageBytes = 1 << 16
		conn := &IMAPConn{cfg: cfg, opts: (&IMAPOptions{SpoolDir: spool, Logger: discard()}).withDefaults(), exists: make(chan struct{}, 1), created: map[string]bool{}}
		conn.log = conn.opts.Logger
		conn.c = imapclient.New(client, nil)
		var got []string
		err := conn.FetchNew(context.Background(), "INBOX", Checkpoint{UID: 4}, func(m *Message) error {
			s := m.SHA256
			if len(s) > 4 {
				s = s[:4]
			}
			if m.Skip != "" {
				s = string(m.Skip)
			}
			got = append(got, fmt.Sprintf("%d:%s", m.UID, s))
			return nil
		})
		conn.Close()
		if err != nil {
			t.Errorf("%s: FetchNew: %v", tt.name, err)
		}
		if g := strings.Join(got, ","); g != tt.want {
			t.Errorf("%s: FetchNew yielded %q, want %q", tt.name, g, tt.want)
		}
	}
}
