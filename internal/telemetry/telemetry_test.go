package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client makes one connection per request, so no keep-alive goroutines
// outlive a test.
var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func start(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = "127.0.0.1:0"
	}
	if cfg.Service == "" {
		cfg.Service = "gpumeter-test"
	}
	tel, err := Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// wantLines fails for each line of want that is not a whole line of body.
func wantLines(t *testing.T, body string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		lines[l] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("scrape lacks line %q", w)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

func TestMetricsScrape(t *testing.T) {
	tel := start(t, Config{Version: "1.2.3", Attributes: map[string]string{"cloud.provider": "azure", "k8s.node.name": "n1", "host.type": ""}})
	m := tel.Meter("github.com/gpumeter/gpumeter/internal/telemetry/test")

	var things, queue atomic.Int64
	things.Store(3)
	queue.Store(7)
	var spool atomic.Uint64
	spool.Store(1_500_000)
	if err := Counter(m, "gpumeter.test.things", "{thing}", "Things seen.", things.Load); err != nil {
		t.Fatal(err)
	}
	if err := Gauge(m, "gpumeter.test.queue.length", "{item}", "Items queued.", queue.Load); err != nil {
		t.Fatal(err)
	}
	if err := GaugeFloat(m, "gpumeter.test.spool.size", "By", "Bytes spooled.",
		func() float64 { return float64(spool.Load()) }); err != nil {
		t.Fatal(err)
	}
	hist, err := m.Float64Histogram("gpumeter.test.insert.duration",
		metric.WithUnit("s"), metric.WithDescription("Insert latency."),
		metric.WithExplicitBucketBoundaries(0.1, 0.25, 1))
	if err != nil {
		t.Fatal(err)
	}
	hist.Record(context.Background(), 0.2)
	hist.Record(context.Background(), 0.3)

	code, body := get(t, "http://"+tel.Addr()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d", code)
	}
	wantLines(t, body,
		"# HELP gpumeter_test_things_total Things seen.",
		"# TYPE gpumeter_test_things_total counter",
		"gpumeter_test_things_total 3",
		"# TYPE gpumeter_test_queue_length gauge",
		"gpumeter_test_queue_length 7",
		"# TYPE gpumeter_test_spool_size_bytes gauge",
		"gpumeter_test_spool_size_bytes 1.5e+06",
		"# TYPE gpumeter_test_insert_duration_seconds histogram",
		`gpumeter_test_insert_duration_seconds_bucket{le="0.1"} 0`,
		`gpumeter_test_insert_duration_seconds_bucket{le="0.25"} 1`,
		`gpumeter_test_insert_duration_seconds_bucket{le="1"} 2`,
		`gpumeter_test_insert_duration_seconds_bucket{le="+Inf"} 2`,
		"gpumeter_test_insert_duration_seconds_sum 0.5",
		"gpumeter_test_insert_duration_seconds_count 2",
	)
	for _, want := range []string{
		`target_info{`, `service_name="gpumeter-test"`, `service_version="1.2.3"`, `gpumeter_build_info{goversion="`, `version="1.2.3"} 1`, `cloud_provider="azure"`, `k8s_node_name="n1"`,
		"\ngo_goroutines ", "\nprocess_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "otel_scope_") {
		t.Errorf("scrape has otel_scope_* labels; scope info should be off")
	}

	// The observable instruments read the caller's state at each scrape.
	things.Add(2)
	queue.Store(0)
	_, body = get(t, "http://"+tel.Addr()+"/metrics")
	wantLines(t, body, "gpumeter_test_things_total 5", "gpumeter_test_queue_length 0")
}

func TestNoGlobals(t *testing.T) {
	tel := start(t, Config{OTLPEndpoint: unusedAddr(t), OTLPInsecure: true})
	if err := Counter(tel.Meter("test"), "gpumeter.test.globals", "{thing}", "", func() int64 { return 1 }); err != nil {
		t.Fatal(err)
	}
	if otel.GetMeterProvider() == metric.MeterProvider(tel.mp) {
		t.Error("Start set the global meter provider")
	}
	if otel.GetTracerProvider() == tel.tracers {
		t.Error("Start set the global tracer provider")
	}
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "gpumeter_") || f.GetName() == "target_info" {
			t.Errorf("default Prometheus registry has %s", f.GetName())
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	tel := start(t, Config{})
	base := "http://" + tel.Addr()

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz with no checks = %d %q, want 200", code, body)
	}

	var kafkaUp atomic.Bool
	tel.AddReadiness("kafka", func(context.Context) error {
		if !kafkaUp.Load() {
			return errors.New("dial broker:9092:\nconnection refused")
		}
		return nil
	})
	tel.AddReadiness("clickhouse", func(context.Context) error { return nil })

	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || body != "kafka: dial broker:9092: connection refused\n" {
		t.Errorf("/readyz with kafka down = %d %q, want 503 naming kafka", code, body)
	}
	kafkaUp.Store(true)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz with all up = %d %q, want 200", code, body)
	}

	// Several failures: one line each, sorted by name.
	tel.AddReadiness("spool", func(context.Context) error { return errors.New("disk full") })
	tel.AddReadiness("buggy", func(context.Context) error { panic("boom") })
	code, body = get(t, base+"/readyz")
	if want := "buggy: panic: boom\nspool: disk full\n"; code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/readyz = %d %q, want 503 %q", code, body, want)
	}

	if code, body := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d %q, want 404", code, body)
	}
}

func TestReadinessTimeout(t *testing.T) {
	tel := start(t, Config{})
	release := make(chan struct{})
	defer close(release)
	// One check honours its context, one ignores it until the test ends.
	tel.AddReadiness("slow", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	tel.AddReadiness("stuck", func(context.Context) error {
		<-release
		return nil
	})
	began := time.Now()
	code, body := get(t, "http://"+tel.Addr()+"/readyz")
	took := time.Since(began)
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", code)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "slow: ") || !strings.HasPrefix(lines[1], "stuck: ") ||
		!strings.Contains(body, "deadline exceeded") {
		t.Errorf("/readyz body = %q, want a slow: and a stuck: line", body)
	}
	if took < ReadinessTimeout || took > ReadinessTimeout+2*time.Second {
		t.Errorf("/readyz took %v, want about %v", took, ReadinessTimeout)
	}
}

func TestTwoInstances(t *testing.T) {
	a := start(t, Config{Service: "gpumeter-agent"})
	b := start(t, Config{Service: "gpumeter-collector"})
	if a.Addr() == b.Addr() {
		t.Fatalf("both listen on %s", a.Addr())
	}
	// The same instrument name in both must not collide.
	for i, tel := range []*Telemetry{a, b} {
		v := int64(10 * (i + 1))
		if err := Counter(tel.Meter("test"), "gpumeter.test.things", "{thing}", "Things seen.",
			func() int64 { return v }); err != nil {
			t.Fatal(err)
		}
	}
	_, bodyA := get(t, "http://"+a.Addr()+"/metrics")
	_, bodyB := get(t, "http://"+b.Addr()+"/metrics")
	wantLines(t, bodyA, "gpumeter_test_things_total 10")
	wantLines(t, bodyB, "gpumeter_test_things_total 20")
	if !strings.Contains(bodyA, `service_name="gpumeter-agent"`) ||
		!strings.Contains(bodyB, `service_name="gpumeter-collector"`) {
		t.Error("target_info does not carry each instance's service.name")
	}
	a.AddReadiness("only-a", func(context.Context) error { return errors.New("down") })
	if code, _ := get(t, "http://"+b.Addr()+"/readyz"); code != http.StatusOK {
		t.Errorf("b's /readyz = %d: a's check leaked into b", code)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	ctx := context.Background()
	var nilTel *Telemetry
	if err := nilTel.Shutdown(ctx); err != nil {
		t.Errorf("nil Shutdown: %v", err)
	}
	if nilTel.Addr() != "" {
		t.Errorf("nil Addr = %q", nilTel.Addr())
	}
	nilTel.AddReadiness("x", func(context.Context) error { return nil })
	// A nil Telemetry still hands out usable no-op instruments.
	if err := Counter(nilTel.Meter("test"), "gpumeter.test.things", "{thing}", "", func() int64 { return 1 }); err != nil {
		t.Errorf("Counter on a no-op meter: %v", err)
	}
	_, span := nilTel.Tracer("test").Start(ctx, "op")
	span.End()

	var zero Telemetry
	for i := range 2 {
		if err := zero.Shutdown(ctx); err != nil {
			t.Errorf("zero Shutdown #%d: %v", i+1, err)
		}
	}
	zero.AddReadiness("x", func(context.Context) error { return errors.New("no") })
	if got := zero.Ready(ctx); len(got) != 1 || got[0] != "x: no" {
		t.Errorf("zero Ready = %q", got)
	}
}

func TestShutdownTwice(t *testing.T) {
	tel, err := Start(context.Background(), Config{Service: "gpumeter-test", MetricsAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := tel.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 2 {
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown #%d: %v", i+1, err)
		}
	}
	if _, err := client.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("%s still serves after Shutdown", addr)
	}
}

func TestNoListener(t *testing.T) {
	tel, err := Start(context.Background(), Config{Service: "gpumeter-test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tel.Addr() != "" {
		t.Errorf("Addr = %q with no MetricsAddr", tel.Addr())
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestBadMetricsAddr(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{"nonsense:xx", taken.Addr().String()} {
		tel, err := Start(context.Background(), Config{Service: "gpumeter-test", MetricsAddr: addr}, nil)
		if err == nil {
			_ = tel.Shutdown(context.Background())
			t.Errorf("Start with MetricsAddr %q: no error", addr)
			continue
		}
		if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "--metrics-addr") {
			t.Errorf("Start with MetricsAddr %q: error %q names neither the address nor --metrics-addr", addr, err)
		}
	}
}

// unusedAddr returns a loopback address nobody listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestOTLPUnreachable(t *testing.T) {
	tel, err := Start(context.Background(), Config{
		Service:      "gpumeter-test",
		MetricsAddr:  "127.0.0.1:0",
		OTLPEndpoint: unusedAddr(t),
		OTLPInsecure: true,
	}, nil)
	if err != nil {
		t.Fatalf("Start with an unreachable OTLP endpoint: %v", err)
	}
	_, span := tel.Tracer("test").Start(context.Background(), "insert batch")
	if !span.IsRecording() {
		t.Error("span is not recording with an OTLP endpoint set")
	}
	span.End()

	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	err = tel.Shutdown(ctx) // may report the failed flush; must not hang
	if took := time.Since(began); took > deadline+time.Second {
		t.Errorf("Shutdown took %v with a %v deadline", took, deadline)
	}
	t.Logf("Shutdown with unreachable OTLP endpoint: %v", err)
	// The abandoned export and its gRPC connection are gone too.
	goleak.VerifyNone(t)
}

func TestInstrumentErrors(t *testing.T) {
	tel := start(t, Config{})
	m := tel.Meter("test")
	if err := Counter(m, "gpumeter.test.nil", "{thing}", "", nil); err == nil || !strings.Contains(err.Error(), "gpumeter.test.nil") {
		t.Errorf("Counter with nil load: %v", err)
	}
	if err := Gauge(m, "gpumeter.test.nil", "{thing}", "", nil); err == nil {
		t.Error("Gauge with nil load: no error")
	}
	if err := GaugeFloat(m, "gpumeter.test.nil", "{thing}", "", nil); err == nil {
		t.Error("GaugeFloat with nil load: no error")
	}
	if err := Counter(m, "9 not a name", "{thing}", "", func() int64 { return 0 }); err == nil ||
		!strings.Contains(err.Error(), "9 not a name") {
		t.Errorf("Counter with an invalid name: %v", err)
	}
}
