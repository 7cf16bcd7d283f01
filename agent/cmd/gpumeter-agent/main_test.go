package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/window"
	"github.com/gpumeter/gpumeter/internal/flagenv"
)

// captureStdout runs f with os.Stdout going to a pipe and returns what f wrote there.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	defer func() { os.Stdout = saved }()
	f()
	_ = w.Close()
	return string(<-done)
}

// The agent's command line: version and --version print the stamped version on standard output; a command line
// that does not parse exits with status 2, a refused value with 1, each naming the problem.
func TestCommandLine(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var err error
		out := captureStdout(t, func() { err = run(t.Context(), args) })
		if err != nil || !strings.HasPrefix(out, "gpumeter-agent ") {
			t.Errorf("%v: err %v, stdout %q, want the version line", args, err, out)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"--interval=5x"}, 2, "interval"},
		{[]string{"gpus", "--formt=json"}, 2, "formt"},
		// A value that parses but is refused: status 1, with the closest known provider.
		{[]string{"--simulate=dgxh100", "--node-name=n1", "--provider=azur"}, 1, "did you mean azure?"},
		{[]string{"gpus", "--format=yaml"}, 1, "--format"},
	} {
		var err error
		captureStdout(t, func() { err = run(t.Context(), tc.args) })
		var msg bytes.Buffer
		if code := flagenv.ExitCode("gpumeter-agent", err, &msg); code != tc.code || !strings.Contains(msg.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d naming %s", tc.args, code, msg.String(), tc.code, tc.want)
		}
	}
}

// target_info carries what the agent detected, under OpenTelemetry's resource attribute names (internal/telemetry
// TestMetricsScrape proves the attributes reach target_info).
func TestResourceAttributes(t *testing.T) {
	got := resourceAttributes(window.Meta{Node: "n1", Provider: "azure", Region: "eastus", Zone: "eastus-1",
		InstanceType: "Standard_ND96isr_H100_v5", Account: "sub-1"})
	for k, v := range map[string]string{"cloud.provider": "azure", "cloud.region": "eastus",
		"cloud.availability_zone": "eastus-1", "cloud.account.id": "sub-1", "host.type": "Standard_ND96isr_H100_v5",
		"k8s.node.name": "n1"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// --duration ends the run with Kafka unreachable (a refused port, through the real kafka-go writer): the records stay
// in the spool for the next start.
func TestDurationEndsWithKafkaUnreachable(t *testing.T) {
	spool := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), []string{"--simulate=dgxh100", "--node-name=n1", "--detect-provider=false",
			"--provider=azure", "--sim-speed=0", "--duration=10m", "--kafka-brokers=127.0.0.1:1", "--spool-dir=" + spool,
			"--metrics-addr=", "--flush-timeout=1s", "--log-level=error"})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(time.Minute): // a bound on a hang, not a timing assertion
		t.Fatal("the agent did not end after --duration with Kafka unreachable")
	}
	entries, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			size += info.Size()
		}
	}
	if size == 0 {
		t.Errorf("spool %s is empty after a run with Kafka unreachable: %v", spool, entries)
	}
}
