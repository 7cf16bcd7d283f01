//go:build faults && linux

package faults

import "syscall"

// childAttr makes the kernel kill a child when the test process dies, so no agent or collector outlives a crashed or
// timed-out test run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
