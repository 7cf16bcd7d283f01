//go:build integration

package kafkaconf_test

import "syscall"

// brokerProcAttr puts the JVM in its own process group, so that stop can signal the whole group, and has the kernel
// kill it should the test binary die without running TestMain's cleanup (a -timeout panic, a SIGKILL).
func brokerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
