//go:build integration

// Package grafana holds the gpumeter Grafana dashboard (gpumeter-dashboard.json). Its test runs every panel's query
// against a real Prometheus (Debian's prometheus) scraping a collector and two simulated agents on the real Kafka
// and ClickHouse, and requires each to return data, except the few panels listed in notYet (README.md says why).
package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// notYet are the metrics the dashboard reads that no binary exports yet. Their panels must return nothing; when a
// binary exports one, the test fails until it leaves this list (and README.md's). Empty since the agent exports its
// per-GPU hw.* gauges (docs/metrics.md).
var notYet = []string{}

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboardQueriesReturnData(t *testing.T) {
	raw, err := os.ReadFile("gpumeter-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("gpumeter-dashboard.json: %v", err)
	}
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus (Debian's package; deploy/local/services.sh start installs it): %v", err)
	}
	kafkaAddr, chAddr := testenv.KafkaAddr(t), testenv.ClickHouseAddr(t)
	dir := t.TempDir()
	bin := build(t, dir)
	db := testenv.Name(t, "gpumeter_dash")
	topic := strings.ReplaceAll(testenv.Name(t, "gpumeter.dash"), "_", ".")
	t.Cleanup(func() { dropDatabase(t, chAddr, db) })

	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)
	commitments := filepath.Join(dir, "commitments.yaml")
	writeFile(t, commitments, fmt.Sprintf(`currency: USD
prices:
  - {provider: aws, price_per_gpu_hour: 9.80}
commitments:
  - id: dash-azure-capacity
    name: dashboard test capacity reservation
    provider: azure
    scope: {region: eastus, instance_type: Standard_ND96isr_H100_v5}
    kind: capacity
    quantity: 16
    unit: gpu
    price_per_gpu_hour: 7.38
    term: {start: %[1]q, end: %[2]q}
    team: platform
  - id: dash-aws-spend
    name: dashboard test spend commitment
    provider: aws
    kind: spend
    quantity: 100000
    unit: USD
    term: {start: %[1]q, end: %[2]q}
    team: inference
    rate_card:
      - {instance_type: p5.48xlarge, price_per_gpu_hour: 6.88}
`, hour.Add(-6*time.Hour).Format(time.RFC3339), hour.Add(30*24*time.Hour).Format(time.RFC3339)))

	collectorAddr, histAddr, liveAddr, promAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	kafkaFlags := []string{"--kafka-brokers=" + kafkaAddr, "--topic=" + topic}
	start(t, dir, "collector", filepath.Join(bin, "gpumeter-collector"), append([]string{"run"}, append(kafkaFlags,
		"--clickhouse-addr="+chAddr, "--clickhouse-database="+db, "--dlq-topic="+topic+".dlq", "--group="+db,
		"--commitments="+commitments, "--alert-interval=2s", "--metrics-addr="+collectorAddr, "--topic-partitions=2",
		"--topic-replication=1", "--batch-wait=200ms")...)...)
	agent := func(name, addr string, extra ...string) {
		args := append([]string{"--simulate=dgxh100", "--node-name=" + name, "--detect-provider=false", "--spool-dir=" + filepath.Join(dir, name),
			"--metrics-addr=" + addr, "--sim-teams=research:4,inference:2"}, kafkaFlags...)
		start(t, dir, name, filepath.Join(bin, "gpumeter-agent"), append(args, extra...)...)
	}
	// Two hours of history, as fast as Kafka takes it: the last complete hour's fleet figures and the commitments'.
	agent("dash-hist", histAddr, "--provider=azure", "--region=eastus", "--instance-type=Standard_ND96isr_H100_v5",
		"--sim-util=0.6", "--sim-speed=0", "--sim-start="+hour.Add(-2*time.Hour).Format(time.RFC3339), "--duration=2h",
		"--sample-period=10s")
	// A live node, scraped while the test runs.
	agent("dash-live", liveAddr, "--provider=aws", "--region=us-east-1", "--instance-type=p5.48xlarge", "--sim-util=0.8")

	cfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, cfg, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: gpumeter-collector
    static_configs: [{targets: [%q]}]
  - job_name: gpumeter-agent
    static_configs: [{targets: [%q, %q]}]
`, collectorAddr, histAddr, liveAddr))
	start(t, dir, "prometheus", prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)

	type query struct{ panel, expr string }
	var queries []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			queries = append(queries, query{p.Title, tg.Expr})
		}
	}
	if len(queries) < 20 {
		t.Fatalf("the dashboard has %d queries; did its format change?", len(queries))
	}
	pending := map[query]bool{}
	for _, q := range queries {
		if !missing(q.expr) {
			pending[q] = true
		}
	}
	deadline := time.Now().Add(4 * time.Minute)
	for len(pending) > 0 && time.Now().Before(deadline) {
		for q := range pending {
			if n, err := instant(promAddr, q.expr); err == nil && n > 0 {
				delete(pending, q)
			}
		}
		time.Sleep(2 * time.Second)
	}
	for _, q := range queries {
		n, err := instant(promAddr, q.expr)
		switch {
		case err != nil:
			t.Errorf("panel %q: %s: %v", q.panel, q.expr, err)
		case missing(q.expr) && n > 0:
			t.Errorf("panel %q: %s returns data now: take its metric off notYet (and deploy/grafana/README.md)", q.panel, q.expr)
		case missing(q.expr):
			t.Logf("panel %q: no data, as expected: its metric is not exported yet (notYet)", q.panel)
		case n == 0:
			t.Errorf("panel %q: %s returned no data", q.panel, q.expr)
		}
	}
	checkMetricNames(t, "http://"+collectorAddr+"/metrics", "gpumeter_commitment_used_to_date_gpu_time_seconds")
	// The agent's own metrics and its hw.* gauges, and target_info with what it was told or detected.
	checkMetricNames(t, "http://"+liveAddr+"/metrics", "gpumeter_agent_records_acknowledged_total", "hw_gpu_utilization_ratio",
		`cloud_provider="aws"`, `cloud_region="us-east-1"`, `host_type="p5.48xlarge"`, `k8s_node_name="dash-live"`,
		`service_version="dashboard-test"`)
	if t.Failed() {
		for _, name := range []string{"collector", "dash-hist", "dash-live", "prometheus"} {
			t.Logf("%s log tail:\n%s", name, tail(filepath.Join(dir, name+".log"), 30))
		}
	}
}

func missing(expr string) bool {
	return slices.ContainsFunc(notYet, func(m string) bool { return strings.Contains(expr, m) })
}

// instant runs expr as Grafana would at the end of the range and returns how many series it gave.
func instant(promAddr, expr string) (int, error) {
	expr = strings.ReplaceAll(expr, "$__rate_interval", "30s")
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", r.Error)
	}
	return len(r.Data.Result), nil
}

// checkMetricNames runs promtool check metrics on a scrape and fails on every problem with a gpumeter or hw.* metric
// (the Go runtime's and the process collector's are not ours), and on every wanted text the scrape does not contain.
func checkMetricNames(t *testing.T, metricsURL string, wants ...string) {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, _ := cmd.CombinedOutput() // exit 1 when it has something to say
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "gpumeter_") || strings.HasPrefix(line, "hw_") {
			t.Errorf("promtool check metrics on %s: %s", metricsURL, line)
		}
	}
	for _, want := range wants {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("%s has no %s", metricsURL, want)
		}
	}
}

func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-ldflags", "-X github.com/gpumeter/gpumeter/internal/version.version=dashboard-test",
		"-o", bin+"/", "./agent/cmd/gpumeter-agent", "./collector/cmd/gpumeter-collector")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// start runs a process with its output in dir/name.log and stops it (SIGTERM, then kill) when the test ends.
func start(t *testing.T, dir, name, path string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func dropDatabase(t *testing.T, addr, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{Addr: []string{addr}, Database: db, User: "default"}, testenv.Logger(t))
	if err != nil {
		t.Logf("drop database %s: %v", db, err)
		return
	}
	defer st.Close()
	if err := st.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Logf("drop database %s: %v", db, err)
	}
}
