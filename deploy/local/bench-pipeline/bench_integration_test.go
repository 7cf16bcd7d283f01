//go:build integration

package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/internal/fleet"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
)

// loadTerm leaves raw rows and rollups that agree: every GPU-hour of the term once in the daily rollup.
func TestLoadTermFillsRollups(t *testing.T) {
	st := teststore.Migrated(t)
	f, err := fleet.New(fleet.Shape{GPUs: 16, Start: termStart, Duration: 48 * time.Hour, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, _, n, err := loadTerm(t.Context(), st, f)
	if err != nil {
		t.Fatal(err)
	}
	var raw uint64
	var hours float64
	if err := st.Conn().QueryRow(t.Context(), fmt.Sprintf("SELECT count() FROM %s.usage_raw", st.Database())).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf("SELECT sum(provisioned_gpu_hours) FROM %s.gpu_usage_daily", st.Database())
	if err := st.Conn().QueryRow(t.Context(), q).Scan(&hours); err != nil {
		t.Fatal(err)
	}
	if n != 16*48 || raw != uint64(n) || hours != 16*48 {
		t.Errorf("loaded %d records, %d raw rows, %g GPU-hours in gpu_usage_daily; want %d each", n, raw, hours, 16*48)
	}
}

// The whole tool on a tiny fleet, against the real services and the real collector binary: it prints every table
// and leaves no topic or database behind.
func TestSmallRunEndToEnd(t *testing.T) {
	broker, ch := testenv.KafkaAddr(t), testenv.ClickHouseAddr(t)
	bin := filepath.Join(t.TempDir(), "gpumeter-collector")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/gpumeter/gpumeter/collector/cmd/gpumeter-collector")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the collector: %v\n%s", err, out)
	}
	var out bytes.Buffer
	args := []string{"--kafka-brokers=" + broker, "--clickhouse-addr=" + ch, "--collector=" + bin, "--out=" + t.TempDir(),
		"--shapes=16x3m", "--batches=1000", "--partitions=3", "--live-rate=20", "--live-for=3s",
		"--term-gpus=16", "--term-days=1", "--report-runs=1"}
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"| 16 GPUs × 3m | 48 | 1,000 |", "records/s (achieved", "| 16 GPUs | 1 days | 384 (1h) |", "Machine: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "of 0 |") {
		t.Errorf("live mode sent no probes:\n%s", out.String())
	}
	// Topic deletion completes asynchronously on the broker: wait for it rather than race it.
	var left []string
	for range 300 {
		if left = benchTopics(t, broker); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("topics left behind: %v", left)
	}
	st := teststore.Migrated(t)
	var dbs uint64
	if err := st.Conn().QueryRow(t.Context(), "SELECT count() FROM system.databases WHERE name LIKE 'gpumeter_bench_%'").Scan(&dbs); err != nil {
		t.Fatal(err)
	}
	if dbs != 0 {
		t.Errorf("%d gpumeter_bench_ databases left behind", dbs)
	}
}

func benchTopics(t *testing.T, broker string) []string {
	t.Helper()
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range parts {
		if strings.HasPrefix(p.Topic, "gpumeter_bench_") && !slices.Contains(out, p.Topic) {
			out = append(out, p.Topic)
		}
	}
	return out
}
