//go:build faults && !linux

package faults

import "syscall"

// childAttr: only Linux can tie a child's life to ours; elsewhere t.Cleanup is all there is.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
