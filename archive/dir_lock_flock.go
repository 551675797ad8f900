//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package archive

import (
	"errors"
	"os"
	"syscall"
)

// Dir's temporary files are locked with flock(2) while written: the lock
// dies with its process, so the file of a Put cut short can be told from
// one still being written, by another process too.

// lockTemp takes an exclusive lock on f, a temporary file just created.
func lockTemp(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

// abandonedTemp reports whether no one holds f's lock, taking it if so.
func abandonedTemp(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
