package ingest

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readMbox(t testing.TB, mbox string) []string {
	t.Helper()
	mr := NewMboxReader(bufio.NewReaderSize(strings.NewReader(mbox), 64))
	var got []string
	for {
		r, err := mr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read message %d: %v", len(got)+1, err)
		}
		got = append(got, string(b))
	}
}

func TestMboxReader(t *testing.T) {
	long := strings.Repeat("x", 300) // longer than the 64-byte buffer
	tests := []struct {
		name string
		mbox string
		want []string
	}{
		{"one", "From a@b Sat Jan  3 01:05:34 2026\nSubject: a\n\nbody\n\n",
			[]string{"Subject: a\n\nbody\n"}},
		{"two", "From a@b x\nSubject: a\n\none\n\nFrom c@d y\nSubject: b\n\ntwo\n\n",
			[]string{"Subject: a\n\none\n", "Subject: b\n\ntwo\n"}},
		{"crlf", "From a@b x\r\nSubject: a\r\n\r\none\r\n\r\nFrom c@d y\r\nSubject: b\r\n\r\ntwo\r\n",
			[]string{"Subject: a\r\n\r\none\r\n", "Subject: b\r\n\r\ntwo\r\n"}},
		// RFC 4155: writers escape body lines starting with "From ".
		{"escaped from", "From a@b x\nSubject: a\n\n>From here\n>>From there\n> From not\n\n",
			[]string{"Subject: a\n\nFrom here\n>From there\n> From not\n"}},
		{"no trailing newline", "From a@b x\nSubject: a\n\nend", []string{"Subject: a\n\nend"}},
		{"long lines", "From a@b x\nSubject: " + long + "\n\n" + long + "From \n\n",
			[]string{"Subject: " + long + "\n\n" + long + "From \n"}},
		{"blank lines kept inside", "From a@b x\nA: b\n\n\n\nbody\n\n\nFrom c y\nB: c\n\n",
			[]string{"A: b\n\n\n\nbody\n\n", "B: c\n"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readMbox(t, tt.mbox); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("messages of %q = %q, want %q", tt.mbox, got, tt.want)
			}
		})
	}
}

func TestMboxReaderSkipsUnreadRest(t *testing.T) {
	mr := NewMboxReader(bufio.NewReaderSize(strings.NewReader("From a x\nA: 1\n\nbody\n\nFrom b y\nB: 2\n\n"), 64))
	if _, err := mr.Next(); err != nil {
		t.Fatal(err)
	}
	r, err := mr.Next() // without reading the first
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if string(b) != "B: 2\n" {
		t.Errorf("second message = %q, want %q", b, "B: 2\n")
	}
}

func TestMboxReaderRefusesNonMbox(t *testing.T) {
	mr := NewMboxReader(bufio.NewReaderSize(strings.NewReader("Subject: x\n\n"), 64))
	if _, err := mr.Next(); err == nil || !strings.Contains(err.Error(), "not an mbox") {
		t.Errorf("Next on a non-mbox = %v, want a 'not an mbox' error", err)
	}
}

func TestWalkFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.eml", "Subject: a\r\n\r\na")
	write("notes.txt", "not mail")
	write("box.mbox", "From x y\nSubject: m1\n\n1\n\nFrom x y\nSubject: m2\n\n2\n")
	write("Maildir/cur/1700000000.M1.host:2,S", "Subject: cur\n\nc")
	write("Maildir/new/1700000001.M2.host", "Subject: new\n\nn")
	write("Maildir/tmp/1700000002.M3.host", "Subject: tmp\n\nt")
	write("Maildir/.Sub/cur/1700000003.M4.host:2,", "Subject: sub\n\ns")
	if err := os.MkdirAll(filepath.Join(dir, "Maildir/.Sub/new"), 0o755); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "notes.txt")

	got := map[string]string{}
	skipped, err := WalkFiles(context.Background(), []string{dir, single}, func(m FileMessage) error {
		b, err := io.ReadAll(m.R)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, m.Name)
		got[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("WalkFiles: %v", err)
	}
	want := map[string]string{
		"a.eml":                                  "Subject: a\r\n\r\na",
		"box.mbox#1":                             "Subject: m1\n\n1\n",
		"box.mbox#2":                             "Subject: m2\n\n2\n",
		"Maildir/cur/1700000000.M1.host:2,S":     "Subject: cur\n\nc",
		"Maildir/new/1700000001.M2.host":         "Subject: new\n\nn",
		"Maildir/.Sub/cur/1700000003.M4.host:2,": "Subject: sub\n\ns",
		"notes.txt":                              "not mail", // named on its own: read
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WalkFiles found\n%q\nwant\n%q", got, want)
	}
	if skipped != 1 {
		t.Errorf("skipped = %d, want 1 (notes.txt inside the directory)", skipped)
	}
	if _, err := WalkFiles(context.Background(), []string{filepath.Join(dir, "missing")}, func(FileMessage) error { return nil }); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("WalkFiles(missing) = %v, want an error naming the path", err)
	}
}

// FuzzMboxReader checks that splitting never panics or loops, and that what
// it returns is made of the input's bytes (it only ever removes).
func FuzzMboxReader(f *testing.F) {
	f.Add("From a x\nSubject: a\n\n>From b\n\nFrom c y\nB: 1\n")
	f.Add("From \r\n\r\nFrom \r\n")
	f.Add("From a\n>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>From x\n")
	f.Fuzz(func(t *testing.T, in string) {
		mr := NewMboxReader(bufio.NewReaderSize(strings.NewReader(in), 64))
		total := 0
		for i := 0; i <= len(in); i++ {
			r, err := mr.Next()
			if err != nil {
				break
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			total += len(b)
		}
		if total > len(in) {
			t.Fatalf("messages hold %d bytes, more than the %d-byte input", total, len(in))
		}
	})
}
