//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package spool

import (
	"errors"
	"math"
	"syscall"
)

// diskFree is unknown here: free space does not limit the spool.
func diskFree(string) (int64, error) { return math.MaxInt64, nil }

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
