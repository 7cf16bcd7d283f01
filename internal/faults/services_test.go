//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The suite's own services, on ports of their own: other test packages use the shared ones on 19000/19092 in
// parallel, these scenarios stop and start theirs, and two runs of this suite (a CI checkout beside a working tree)
// must not meet either. startServices picks free ports and sets these.
var (
	kafkaAddr      string
	clickhouseAddr string
)

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment ago. They are drawn from below Linux's
// default ephemeral range (32768-60999), so that no client connection picks one as its local port while a service
// that owns it is down.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt > 1000 {
			return nil, fmt.Errorf("no %d free ports in [20000, 32000) after %d attempts", n, attempt)
		}
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// services drives deploy/local/services.sh on a state directory of its own.
type services struct {
	t        *testing.T
	script   string
	dir      string
	env      []string
	watchdog *exec.Cmd
}

// cleanEnv is the environment without any GPUMETER_ variable: the binaries read every flag from GPUMETER_<FLAG>,
// and services.sh reads its ports from there, so nothing of the caller's (make test exports the shared services'
// addresses) may leak in.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GPUMETER_") {
			env = append(env, kv)
		}
	}
	return env
}

// startServices starts ClickHouse and Kafka in a fresh state directory and stops them (and deletes it) when t ends.
// A watchdog does the same if the test binary dies without cleaning up (a -timeout panic, a kill).
func startServices(t *testing.T) *services {
	t.Helper()
	dir, err := os.MkdirTemp("", "gpumeter-faults-services-")
	if err != nil {
		t.Fatal(err)
	}
	s := &services{t: t, script: filepath.Join(moduleRoot, "deploy", "local", "services.sh"), dir: dir}
	ports, err := freePorts(5)
	if err != nil {
		t.Fatalf("find free ports: %v", err)
	}
	chPort, chHTTPPort, kafkaPort, kafkaControllerPort := ports[0], ports[1], ports[2], ports[3]
	kafkaAddr = "127.0.0.1:" + strconv.Itoa(kafkaPort)
	clickhouseAddr = "127.0.0.1:" + strconv.Itoa(chPort)
	s.env = append(cleanEnv(),
		"GPUMETER_LOCAL_DIR="+dir,
		"GPUMETER_CH_PORT="+strconv.Itoa(chPort),
		"GPUMETER_CH_HTTP_PORT="+strconv.Itoa(chHTTPPort),
		"GPUMETER_KAFKA_PORT="+strconv.Itoa(kafkaPort),
		"GPUMETER_KAFKA_CONTROLLER_PORT="+strconv.Itoa(kafkaControllerPort),
		// never started here; set so that nothing of ours can meet the shared Alertmanager
		"GPUMETER_ALERTMANAGER_PORT="+strconv.Itoa(ports[4]),
	)
	t.Logf("services: state in %s; ClickHouse 127.0.0.1:%d (http %d), Kafka 127.0.0.1:%d (controller %d)",
		dir, chPort, chHTTPPort, kafkaPort, kafkaControllerPort)
	if _, err := os.Stat(s.script); err != nil {
		t.Fatalf("services script: %v", err)
	}
	s.reuseKafkaJars()
	s.startWatchdog()
	t.Cleanup(s.shutdown)
	s.start("clickhouse")
	s.start("kafka")
	return s
}

// reuseKafkaJars copies the broker jars that the shared state directory already holds, marker included, so that
// services.sh finds them complete (its marker is the hash of deploy/local/kafka/pom.xml) and does not run Maven.
// Without them services.sh downloads them (Maven's ~/.m2 cache makes that quick after the first time).
func (s *services) reuseKafkaJars() {
	shared := os.Getenv("GPUMETER_LOCAL_DIR")
	if shared == "" {
		shared = filepath.Join(moduleRoot, ".local")
	}
	src := filepath.Join(shared, "kafka", "libs")
	if _, err := os.Stat(filepath.Join(src, ".complete")); err != nil {
		s.t.Logf("no complete Kafka jars in %s (%v): services.sh fetches them with Maven", src, err)
		return
	}
	dst := filepath.Join(s.dir, "kafka")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		s.t.Logf("copy Kafka jars from %s: %v: %s (services.sh fetches them with Maven)", src, err, out)
		_ = os.RemoveAll(filepath.Join(dst, "libs"))
	}
}

// startWatchdog starts a shell in its own session that waits for this test process to end, then stops the services
// and deletes their state and the built binaries. On a clean end, shutdown kills it first.
func (s *services) startWatchdog() {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done
"$2" stop clickhouse >/dev/null 2>&1; "$2" stop kafka >/dev/null 2>&1; rm -rf "$3" "$4"`
	cmd := exec.Command("bash", "-c", script, "faults-watchdog", strconv.Itoa(os.Getpid()), s.script, s.dir, binDir)
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start the services watchdog: %v", err)
	}
	s.watchdog = cmd
}

func (s *services) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.script, args...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (after %s)", ctx.Err(), timeout)
	}
	return strings.TrimSpace(out.String()), err
}

// start starts one service (a no-op when it runs) and waits until it answers; failure fails the test.
func (s *services) start(name string) {
	s.t.Helper()
	t0 := time.Now()
	// Generous: the first start may have to fetch the Kafka jars with Maven.
	out, err := s.run(8*time.Minute, "start", name)
	if err != nil {
		s.t.Fatalf("services.sh start %s: %v\n%s\n%s", name, err, out, s.logs(name))
	}
	s.t.Logf("services: %s up in %s", name, time.Since(t0).Round(10*time.Millisecond))
}

// stop stops one service; failure fails the test.
func (s *services) stop(name string) {
	s.t.Helper()
	t0 := time.Now()
	out, err := s.run(2*time.Minute, "stop", name)
	if err != nil {
		s.t.Fatalf("services.sh stop %s: %v\n%s", name, err, out)
	}
	s.t.Logf("services: %s stopped in %s", name, time.Since(t0).Round(10*time.Millisecond))
}

// logs returns the tails of a service's logs.
func (s *services) logs(name string) string {
	out, _ := s.run(30*time.Second, "logs", name)
	return out
}

func (s *services) shutdown() {
	if s.t.Failed() {
		s.t.Logf("service logs (state in %s):\n%s\n%s", s.dir, s.logs("clickhouse"), s.logs("kafka"))
	}
	if s.watchdog != nil && s.watchdog.Process != nil {
		// Its own process group (setsid): the shell and its sleep.
		_ = syscall.Kill(-s.watchdog.Process.Pid, syscall.SIGKILL)
		_ = s.watchdog.Wait()
	}
	for _, name := range []string{"clickhouse", "kafka"} {
		if out, err := s.run(2*time.Minute, "stop", name); err != nil {
			s.t.Errorf("services.sh stop %s: %v\n%s", name, err, out)
		}
	}
	if os.Getenv("GPUMETER_FAULTS_KEEP") != "" {
		s.t.Logf("GPUMETER_FAULTS_KEEP is set: service state kept in %s", s.dir)
		return
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.t.Errorf("remove %s: %v", s.dir, err)
	}
}
