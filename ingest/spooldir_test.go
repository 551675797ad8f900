package ingest_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
)

// spoolChildEnv names the parent directory a child of TestSpoolDir opens
// a spool directory in before it waits to be killed.
const spoolChildEnv = "CLAIMTRAIL_SPOOL_CHILD"

func TestSpoolDir(t *testing.T) {
	if parent := os.Getenv(spoolChildEnv); parent != "" {
		s, err := ingest.OpenSpoolDir(parent, nil)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(s.Path(), "claimtrail-imap-1.eml"), []byte("spooled"), 0o600)
		os.Stdout.WriteString(s.Path() + "\n")
		time.Sleep(time.Minute) // until killed
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("no flock: abandoned spool directories are left alone")
	}
	// killed opens a spool directory in a child process and kills it with
	// SIGKILL, as a crash would.
	killed := func(t *testing.T, parent string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolDir$", "-test.count=1")
		cmd.Env = append(os.Environ(), spoolChildEnv+"="+parent)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		cmd.Process.Kill()
		cmd.Wait()
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return line[:len(line)-1]
	}
	// unlocked is a directory with a lock file nobody holds.
	unlocked := func(t *testing.T, parent string) string {
		dir, err := os.MkdirTemp(parent, "claimtrail-spooldir-*")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o600)
		return dir
	}
	// lockless is a directory without a lock file, modified age ago.
	lockless := func(age time.Duration) func(*testing.T, string) string {
		return func(t *testing.T, parent string) string {
			dir, err := os.MkdirTemp(parent, "claimtrail-spooldir-*")
			if err != nil {
				t.Fatal(err)
			}
			then := time.Now().Add(-age)
			os.Chtimes(dir, then, then)
			return dir
		}
	}
	// live is another process's spool directory, still open.
	live := func(t *testing.T, parent string) string {
		s, err := ingest.OpenSpoolDir(parent, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Path()
	}
	// foreign is someone else's directory beside ours.
	foreign := func(t *testing.T, parent string) string {
		dir := filepath.Join(parent, "claimtrail-imap-keep")
		os.Mkdir(dir, 0o700)
		return dir
	}
	// spoolFile is a spool file of a process without a spool directory,
	// named like one (evidence.Spool's names).
	spoolFile := func(t *testing.T, parent string) string {
		path := filepath.Join(parent, "claimtrail-spooldir-file")
		os.WriteFile(path, []byte("x"), 0o600)
		return path
	}
	for _, c := range []struct {
		name        string
		make        func(*testing.T, string) string
		wantRemoved bool
	}{
		{"left by a killed process", killed, true},
		{"lock file not held", unlocked, true},
		{"no lock file, old", lockless(time.Hour), true},
		{"no lock file, just made (its process is starting)", lockless(0), false},
		{"held by a live process", live, false},
		{"not a spool directory", foreign, false},
		{"a file with a spool directory's name", spoolFile, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			other := c.make(t, parent)
			s, err := ingest.OpenSpoolDir(parent, nil)
			if err != nil {
				t.Fatalf("OpenSpoolDir: %v", err)
			}
			_, err = os.Stat(other)
			if removed := os.IsNotExist(err); removed != c.wantRemoved {
				t.Errorf("OpenSpoolDir beside %s: removed = %v, want %v", filepath.Base(other), removed, c.wantRemoved)
			}
			if fi, err := os.Stat(s.Path()); err != nil || !fi.IsDir() {
				t.Fatalf("Path() = %s: %v", s.Path(), err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
				t.Errorf("after Close, %s: %v; want it removed", s.Path(), err)
			}
		})
	}
}

func TestOpenSpoolDirUnwritable(t *testing.T) {
	_, err := ingest.OpenSpoolDir(filepath.Join(t.TempDir(), "missing"), nil)
	if err == nil {
		t.Fatal("OpenSpoolDir in a missing directory: no error")
	}
}
