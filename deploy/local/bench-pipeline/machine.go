package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

type machineInfo struct {
	when                       time.Time
	cpus                       int
	cpuModel, memory, kernel   string
	goVersion, clickhouse      string
	kafka, gpumeter, collector string
	load                       string
}

// machine describes where the figures were measured: a figure without its machine means little.
func (b *bench) machine(ctx context.Context) machineInfo {
	m := machineInfo{when: time.Now().UTC(), cpus: runtime.NumCPU(), goVersion: runtime.Version(), collector: b.o.collector}
	m.cpuModel = procField("/proc/cpuinfo", "model name", ":")
	if kb := procField("/proc/meminfo", "MemTotal", ":"); kb != "" {
		var n int64
		if _, err := fmt.Sscanf(kb, "%d kB", &n); err == nil {
			m.memory = fmt.Sprintf("%.1f GiB", float64(n)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if err := b.ch.QueryRow(ctx, "SELECT version()").Scan(&m.clickhouse); err != nil {
		m.clickhouse = "unknown: " + err.Error()
	}
	m.kafka = kafkaVersion()
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		m.gpumeter = rev + dirty
	}
	if m.gpumeter == "" { // built without VCS stamps (go run, or a git worktree): ask git
		if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
			m.gpumeter = strings.TrimSpace(string(out))
		}
	}
	return m
}

func procField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// kafkaVersion reads the broker jar's version from the local services' state (deploy/local/services.sh).
func kafkaVersion() string {
	dir := os.Getenv("GPUMETER_LOCAL_DIR")
	if dir == "" {
		dir = ".local"
	}
	jars, _ := filepath.Glob(filepath.Join(dir, "kafka", "libs", "kafka_2.13-*.jar"))
	for _, j := range jars {
		v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(j), "kafka_2.13-"), ".jar")
		if !strings.ContainsAny(v, "-") {
			return "Apache Kafka " + v + " (KRaft)"
		}
	}
	return "unknown"
}
