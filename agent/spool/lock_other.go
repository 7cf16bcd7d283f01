//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package spool

import "os"

// lockDir only creates the lock file where flock(2) is not available; the agent runs on Linux.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
