package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maildirWriter drops messages straight into a Dovecot user's Maildir, as
// a delivery agent would, far faster than APPEND: the benchmark measures
// the ingest, not the loading. Dovecot assigns UIDs when it next looks.
type maildirWriter struct {
	cur      string
	uid, gid int
	seq      int
}

// newMaildirWriter writes into the INBOX of user under a Dovecot from
// ingesttest (mail_location maildir:<Dir>/mail/%u).
func newMaildirWriter(t testing.TB, dovecotDir, mailUser string) *maildirWriter {
	t.Helper()
	root := filepath.Join(dovecotDir, "mail", mailUser)
	w := &maildirWriter{cur: filepath.Join(root, "cur"), uid: os.Getuid(), gid: os.Getgid()}
	if os.Geteuid() == 0 {
		// ingesttest runs the mail processes as the dovecot user.
		u, err := user.Lookup("dovecot")
		if err != nil {
			t.Fatalf("maildir: %v", err)
		}
		w.uid, _ = strconv.Atoi(u.Uid)
		w.gid, _ = strconv.Atoi(u.Gid)
	}
	for _, dir := range []string{root, w.cur, filepath.Join(root, "new"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatalf("maildir: %v", err)
		}
		if err := os.Chown(dir, w.uid, w.gid); err != nil {
			t.Fatalf("maildir: %v", err)
		}
	}
	return w
}

// add stores msg as a new, unseen message and returns its file.
func (w *maildirWriter) add(msg []byte) (string, error) {
	w.seq++
	// S= and W= (size with CRLF) spare Dovecot a stat and a read per mail.
	name := fmt.Sprintf("%d.M%dP%d.claimtrail-test,S=%d,W=%d:2,", time.Now().Unix(), w.seq, os.Getpid(), len(msg), len(msg))
	path := filepath.Join(w.cur, name)
	if err := os.WriteFile(path, msg, 0o600); err != nil {
		return "", fmt.Errorf("maildir: %w", err)
	}
	return path, os.Chown(path, w.uid, w.gid)
}

// link adds the file of another writer's message without copying it.
func (w *maildirWriter) link(path string) error {
	w.seq++
	name := fmt.Sprintf("%d.M%dP%d.claimtrail-test,%s", time.Now().Unix(), w.seq, os.Getpid(), strings.SplitN(filepath.Base(path), ",", 2)[1])
	if err := os.Link(path, filepath.Join(w.cur, name)); err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}
