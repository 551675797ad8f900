package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// SpoolDir is one process's private directory for spool files: fetched
// messages and bundles on their way to the store. A process that is killed
// cannot remove its spool files, and each kill would leave up to a batch
// of mail (64 MiB) behind; a private directory held by a lock lets the
// next process find and remove what the dead one left.
type SpoolDir struct {
	path string
	lock *os.File // holds the lock while the directory is in use
}

const (
	spoolDirPattern = "claimtrail-spooldir-*" // not evidence's spool files, "claimtrail-spool-*"
	spoolLockName   = ".lock"
	// spoolDirGrace spares a directory without a lock file this long: its
	// process may be between creating it and locking it.
	spoolDirGrace = 10 * time.Minute
)

// OpenSpoolDir creates and locks a new spool directory under parent (""
// means os.TempDir()), and removes the spool directories under parent
// whose processes have died. Close removes it again.
func OpenSpoolDir(parent string, log *slog.Logger) (*SpoolDir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp(parent, spoolDirPattern)
	if err != nil {
		return nil, fmt.Errorf("ingest: create spool directory: %w (set TMPDIR to a writable directory)", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, spoolLockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		var ok bool
		if ok, err = tryLock(lock); err == nil && !ok {
			err = errors.New("locked by another process")
		}
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ingest: lock spool directory %s: %w", dir, err)
	}
	s := &SpoolDir{path: dir, lock: lock}
	s.removeAbandoned(parent, log)
	return s, nil
}

// Path returns the directory, for IMAPOptions.SpoolDir and
// PipelineOptions.SpoolDir.
func (s *SpoolDir) Path() string { return s.path }

// Close removes the directory with whatever is left in it.
func (s *SpoolDir) Close() error {
	err := os.RemoveAll(s.path)
	s.lock.Close() // after the removal: nobody may take it for abandoned meanwhile
	if err != nil {
		return fmt.Errorf("ingest: remove spool directory: %w", err)
	}
	return nil
}

// removeAbandoned removes the other spool directories under parent whose
// lock nobody holds: their processes are gone.
func (s *SpoolDir) removeAbandoned(parent string, log *slog.Logger) {
	if !canTellAbandoned {
		return
	}
	dirs, err := filepath.Glob(filepath.Join(parent, spoolDirPattern))
	if err != nil {
		return
	}
	for _, dir := range dirs {
		if fi, err := os.Lstat(dir); dir == s.path || err != nil || !fi.IsDir() {
			continue
		}
		removed, err := removeIfAbandoned(dir)
		switch {
		case err != nil:
			log.Warn("spool directory of a stopped claimtrail not removed", "dir", dir, "err", err)
		case removed:
			log.Info("removed the spool directory a stopped claimtrail left", "dir", dir)
		}
	}
}

// removeIfAbandoned removes dir if no live process holds its lock.
func removeIfAbandoned(dir string) (bool, error) {
	lock, err := os.OpenFile(filepath.Join(dir, spoolLockName), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < spoolDirGrace {
			return false, nil // gone meanwhile, or its process is starting
		}
		return true, os.RemoveAll(dir)
	}
	if err != nil {
		return false, err
	}
	defer lock.Close() // after the removal
	if ok, err := tryLock(lock); err != nil || !ok {
		return false, err
	}
	return true, os.RemoveAll(dir)
}
