//go:build integration && unix && !linux

package kafkaconf_test

import "syscall"

// brokerProcAttr puts the JVM in its own process group, so that stop can signal the whole group.
func brokerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
