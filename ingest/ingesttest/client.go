package ingesttest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Dial returns a second IMAP client logged in as user, closed when the test
// ends: the way a test puts mail in or looks at it independently of the
// code under test.
func (d *Dovecot) Dial(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.addr(d.Port), nil)
	if err != nil {
		t.Fatalf("ingesttest: dial dovecot: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, d.Password(user)).Wait(); err != nil {
		t.Fatalf("ingesttest: login as %s: %v", user, err)
	}
	return c
}

// Append stores msgs in folder of user (creating the folder if needed),
// in order, and returns their UIDs.
func (d *Dovecot) Append(t testing.TB, user, folder string, msgs ...[]byte) []uint32 {
	t.Helper()
	c := d.Dial(t, user)
	defer c.Logout()
	if err := c.Create(folder, nil).Wait(); err != nil && !isAlreadyExists(err) {
		t.Fatalf("ingesttest: create %s: %v", folder, err)
	}
	uids := make([]uint32, 0, len(msgs))
	for i, m := range msgs {
		cmd := c.Append(folder, int64(len(m)), &imap.AppendOptions{Time: time.Now()})
		if _, err := cmd.Write(m); err != nil {
			t.Fatalf("ingesttest: append message %d: %v", i, err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatalf("ingesttest: append message %d: %v", i, err)
		}
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("ingesttest: append message %d to %s: %v", i, folder, err)
		}
		uids = append(uids, uint32(data.UID))
	}
	return uids
}

// UIDs returns the UIDs in folder of user, ascending; none when the folder
// does not exist.
func (d *Dovecot) UIDs(t testing.TB, user, folder string) []uint32 {
	t.Helper()
	return slices.Sorted(func(yield func(uint32) bool) {
		for uid := range d.Flags(t, user, folder) {
			if !yield(uid) {
				return
			}
		}
	})
}

// Flags returns the flags of every message in folder of user, by UID,
// without changing any (EXAMINE).
func (d *Dovecot) Flags(t testing.TB, user, folder string) map[uint32][]string {
	t.Helper()
	c := d.Dial(t, user)
	defer c.Logout()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		var ie *imap.Error
		// Dovecot 2.3 says "NO Mailbox doesn't exist" without a code.
		if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeNonExistent || strings.Contains(ie.Text, "doesn't exist")) {
			return map[uint32][]string{}
		}
		t.Fatalf("ingesttest: examine %s: %v", folder, err)
	}
	out := map[uint32][]string{}
	if sel.NumMessages == 0 {
		return out
	}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatalf("ingesttest: fetch flags of %s: %v", folder, err)
	}
	for _, b := range bufs {
		fl := make([]string, 0, len(b.Flags))
		for _, f := range b.Flags {
			fl = append(fl, string(f))
		}
		slices.Sort(fl)
		out[uint32(b.UID)] = fl
	}
	return out
}

// NewMessage returns a small RFC 5322 message; its body is padded with
// text lines to about size bytes in all.
func NewMessage(n int, subject string, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Jane Doe <jane@contoso.example>\r\n")
	fmt.Fprintf(&b, "To: claims@partner.test\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: Mon, 02 Mar 2026 10:%02d:00 +0000\r\n", n%60)
	fmt.Fprintf(&b, "Message-ID: <%d.%s@contoso.example>\r\n", n, randomHex(6))
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Message %d. Exchange was down, incident EX%06d; please claim the SLA credit.\r\n", n, 100000+n)
	line := strings.Repeat("x", 70) + "\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	return []byte(b.String())
}

func isAlreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists
}
