//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package ingest

import (
	"errors"
	"os"
	"syscall"
)

// canTellAbandoned: flock(2) locks die with their process.
const canTellAbandoned = true

// tryLock takes an exclusive lock on f without waiting; false when another
// open file holds it.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
