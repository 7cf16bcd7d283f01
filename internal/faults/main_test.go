//go:build faults

package faults

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The binaries under test and the module they are built from; set by TestMain.
var (
	moduleRoot   string
	binDir       string
	agentBin     string
	collectorBin string
)

// TestMain builds the real binaries once (what the scenarios run is what ships), then runs the tests.
func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return 0, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return 0, fmt.Errorf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	moduleRoot = filepath.Dir(gomod)

	binDir, err = os.MkdirTemp("", "gpumeter-faults-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(binDir)
	start := time.Now()
	build := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
		"./agent/cmd/gpumeter-agent", "./collector/cmd/gpumeter-collector")
	build.Dir = moduleRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if os.Getenv("CGO_CFLAGS") == "" {
		// go-nvml's headers mark many functions deprecated; the warnings drown real output (as in the Makefile).
		build.Env = append(build.Env, "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	}
	var buildOut bytes.Buffer
	build.Stdout, build.Stderr = &buildOut, &buildOut
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("go build of the binaries in %s failed: %w\n%s", moduleRoot, err, buildOut.String())
	}
	agentBin = filepath.Join(binDir, "gpumeter-agent")
	collectorBin = filepath.Join(binDir, "gpumeter-collector")
	fmt.Printf("faults: built gpumeter-agent and gpumeter-collector from %s in %s\n", moduleRoot,
		time.Since(start).Round(100*time.Millisecond))
	return m.Run(), nil
}
