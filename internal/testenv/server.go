package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LocalDir is the state directory of deploy/local/services.sh (<repo>/.local; GPUMETER_LOCAL_DIR overrides), where
// it installs what tests run themselves (the Alertmanager binary, the Kafka jars).
func LocalDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("GPUMETER_LOCAL_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), ".local")
}

// RepoRoot is the directory of the repository's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("find the repository (go env GOMOD: %v)", err)
	}
	return filepath.Dir(gomod)
}

// FreePorts reserves n distinct loopback ports by listening on port 0 and closing again.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Server starts a real server process of the test's own (a ClickHouse or Alertmanager configured for one test),
// its output in dir/<name>.log, and waits until ready returns nil. It is stopped (TERM, then KILL) when the test
// ends; a server that exits or is not ready within timeout fails the test with the end of its log.
func Server(t testing.TB, name, dir string, timeout time.Duration, ready func() error, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group (stopped as one), killed by the kernel should the test binary die without cleaning up
	// (a -timeout panic). Pdeathsig fires when the forking thread ends: keep that goroutine on its thread until the
	// server has exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	exited := make(chan struct{})
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = logFile.Close()
	})
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited during start: %v\n%s", name, err, tail(dir))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s: %v\n%s", name, timeout, err, tail(dir))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail is the last lines of every *.log file in dir: the server's output and the logs it wrote itself.
func tail(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "----- last lines of %s -----\n%s\n", f, strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	return b.String()
}
