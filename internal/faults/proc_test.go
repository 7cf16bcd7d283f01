//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is one run of a binary under test, its output in a log file.
type proc struct {
	name    string
	args    []string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	waitErr error
	metrics *scraper // nil: no /metrics address
}

// startProc runs bin with args, stdout and stderr to logPath. t's cleanup kills it if it still runs.
func startProc(t *testing.T, name, logPath, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = childAttr()
	p := &proc{name: name, args: args, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.started = time.Now()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			t.Logf("cleanup: killing %s (pid %d), still running", p.name, p.pid())
			p.kill()
		}
	})
	t.Logf("started %s (pid %d): %s %s", name, p.pid(), bin, strings.Join(args, " "))
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitCode is the process's exit status once it ended: -1 when a signal ended it.
func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) exitDesc() string {
	<-p.done
	return p.cmd.ProcessState.String()
}

func (p *proc) signal(sig syscall.Signal) {
	if p.running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// wait waits up to timeout for the process to end by itself.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// output is the whole log so far.
func (p *proc) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// tail is the log's last n lines.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// count is how many log lines contain substr.
func (p *proc) count(substr string) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader([]byte(p.output())))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}

// sumField adds up the integer value of key=N on the log lines that contain msg.
func (p *proc) sumField(msg, key string) int64 {
	re := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(key) + `=(\d+)`)
	var sum int64
	for _, line := range strings.Split(p.output(), "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		if m := re.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			sum += n
		}
	}
	return sum
}

// field returns key's value on the last log line that contains msg.
func (p *proc) field(msg, key string) (string, bool) {
	re := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S+)`)
	val, ok := "", false
	for _, line := range strings.Split(p.output(), "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		if m := re.FindStringSubmatch(line); m != nil {
			val, ok = strings.Trim(m[1], `"`), true
		}
	}
	return val, ok
}

// waitFor polls until cond holds; it gives up after timeout, or when the process ended and cond still fails.
func (p *proc) waitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if !p.running() {
			if cond() {
				return nil
			}
			return fmt.Errorf("%s ended (%s) before %s", p.name, p.exitDesc(), what)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s after %s", p.name, what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits for a log line that contains substr.
func (p *proc) waitLog(timeout time.Duration, substr string) error {
	return p.waitFor(timeout, fmt.Sprintf("log line %q", substr), func() bool { return p.count(substr) > 0 })
}
