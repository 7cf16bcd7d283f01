//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package spool

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock(2) on dir/lock, so two agents never share one spool. flock locks belong to the
// open file description: a second Open in the same process is refused too. The kernel drops the lock if the process
// dies.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("%s is held by another spool (another agent process?): %w", path, errLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
