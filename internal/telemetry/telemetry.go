package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/gpumeter/gpumeter/internal/version"
)

// ReadinessTimeout bounds one /readyz request: every check runs concurrently
// and a check that has not returned by then counts as failing.
const ReadinessTimeout = 2 * time.Second

// Values we set explicitly rather than inherit from library defaults.
const (
	// HTTP server.
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second

	// OTLP/gRPC trace export (these equal the exporter's documented defaults).
	otlpExportTimeout   = 10 * time.Second
	otlpRetryInitial    = 5 * time.Second
	otlpRetryMax        = 30 * time.Second
	otlpRetryMaxElapsed = time.Minute

	// Batch span processor.
	batchTimeout       = 5 * time.Second
	batchExportTimeout = 30 * time.Second
	batchMaxQueueSize  = 2048
	batchMaxExportSize = 512
)

// Config says what to serve and where to send traces.
type Config struct {
	// Service is the service.name resource attribute: "gpumeter-agent" or
	// "gpumeter-collector".
	Service string
	// Version is the service.version resource attribute and the version label of gpumeter_build_info; "" takes
	// the version stamped into the binary (internal/version).
	Version string
	// MetricsAddr is the host:port serving /metrics, /healthz and /readyz
	// (flag --metrics-addr); "" serves nothing. "127.0.0.1:0" picks a free port
	// ([Telemetry.Addr] says which).
	MetricsAddr string
	// OTLPEndpoint is the host:port of an OTLP/gRPC receiver for traces; ""
	// disables tracing (tracers are no-ops).
	OTLPEndpoint string
	// OTLPInsecure sends traces without TLS.
	OTLPInsecure bool
	// WebConfigFile is a web configuration file in the format of the Prometheus exporter-toolkit (flag
	// --web-config-file; the same file node_exporter takes): TLS (tls_server_config, client certificates included)
	// and basic auth (basic_auth_users, bcrypt hashes) for /metrics, /healthz and /readyz. "" serves plain HTTP
	// to anyone. The file is checked at Start and read again on every connection and request, as the toolkit does,
	// so certificates and users can be rotated without a restart.
	WebConfigFile string
	// Attributes are further resource attributes (on target_info): what the binary detected about where it runs,
	// e.g. cloud.provider, cloud.region, host.type, k8s.node.name. Empty values are left out.
	Attributes map[string]string
}

// Telemetry owns one binary's meter and tracer providers and its telemetry
// HTTP server. Build it with [Start]; a nil or zero Telemetry hands out no-op
// meters and tracers and shuts down without error.
type Telemetry struct {
	log *slog.Logger

	registry *prometheus.Registry
	mp       *sdkmetric.MeterProvider
	tp       *sdktrace.TracerProvider // nil when tracing is off
	tracers  trace.TracerProvider     // tp, or a no-op provider
	// abandonExports cancels every trace export in flight or to come; Shutdown
	// calls it when its ctx ends before the final flush does.
	abandonExports context.CancelFunc

	ln       net.Listener
	srv      *http.Server
	serveErr chan error // receives Serve's result once

	mu     sync.Mutex
	checks map[string]func(context.Context) error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start builds the providers and, when cfg.MetricsAddr is set, starts serving
// /metrics, /healthz and /readyz. It sets no OpenTelemetry or Prometheus
// globals. On error, whatever was started is stopped again. log may be nil.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Telemetry, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Telemetry{log: log, checks: map[string]func(context.Context) error{}}
	defer func() {
		if err != nil {
			// Start failed part-way: release what was built, without waiting long.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = t.Shutdown(sctx)
		}
	}()

	if cfg.Version == "" {
		cfg.Version = version.String()
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}

	// Metrics: an OTel Prometheus exporter on a registry of our own.
	t.registry = prometheus.NewRegistry()
	if err := t.registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: register Go runtime collector: %w", err)
	}
	if err := t.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Name: "gpumeter_build_info",
		Help:        "Always 1: the version and build of this binary (internal/version), as dashboards and alerts join on it.",
		ConstLabels: prometheus.Labels{"service": cfg.Service, "version": cfg.Version, "revision": version.Revision(), "goversion": runtime.Version()}})
	buildInfo.Set(1)
	if err := t.registry.Register(buildInfo); err != nil {
		return nil, fmt.Errorf("telemetry: register build info: %w", err)
	}
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(t.registry),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exporter),
	)

	// Traces: OTLP/gRPC batch export, or nothing.
	if cfg.OTLPEndpoint != "" {
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint),
			otlptracegrpc.WithTimeout(otlpExportTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
				Enabled:         true,
				InitialInterval: otlpRetryInitial,
				MaxInterval:     otlpRetryMax,
				MaxElapsedTime:  otlpRetryMaxElapsed,
			}),
		}
		if cfg.OTLPInsecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		// New does not dial: an unreachable endpoint shows up as failed
		// exports later, not as a failed start.
		otlpExporter, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP trace exporter for %q: %w", cfg.OTLPEndpoint, err)
		}
		stopCtx, abandon := context.WithCancel(context.Background())
		t.abandonExports = abandon
		t.tp = sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithBatcher(abandonableExporter{otlpExporter, stopCtx},
				sdktrace.WithBatchTimeout(batchTimeout),
				sdktrace.WithExportTimeout(batchExportTimeout),
				sdktrace.WithMaxQueueSize(batchMaxQueueSize),
				sdktrace.WithMaxExportBatchSize(batchMaxExportSize),
			),
		)
		t.tracers = t.tp
	} else {
		t.tracers = tracenoop.NewTracerProvider()
	}

	if cfg.WebConfigFile != "" {
		if cfg.MetricsAddr == "" {
			return nil, errors.New("telemetry: --web-config-file: set --metrics-addr too")
		}
		if err := web.Validate(cfg.WebConfigFile); err != nil {
			return nil, fmt.Errorf("telemetry: --web-config-file %s: %w", cfg.WebConfigFile, err)
		}
	}
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("telemetry: listen on %q (--metrics-addr): %w", cfg.MetricsAddr, err)
		}
		t.ln = ln
		t.srv = &http.Server{
			Handler:           t.Handler(),
			ReadHeaderTimeout: readHeaderTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		t.serveErr = make(chan error, 1)
		webFile := cfg.WebConfigFile
		// The toolkit logs its own "Listening on" and "TLS is enabled/disabled" lines; keep them out of Info.
		webLog := slog.New(levelAtLeast{log.Handler(), slog.LevelWarn})
		go func() {
			t.serveErr <- web.Serve(ln, t.srv, &web.FlagConfig{WebConfigFile: &webFile}, webLog)
		}()
		log.Info("telemetry listening", "addr", ln.Addr().String(),
			"paths", "/metrics /healthz /readyz", "web_config_file", cfg.WebConfigFile)
	}
	if cfg.OTLPEndpoint != "" {
		log.Info("telemetry exporting traces", "otlp_endpoint", cfg.OTLPEndpoint,
			"insecure", cfg.OTLPInsecure)
	}
	return t, nil
}

// abandonableExporter ends every export when stop does, whatever context
// the batch processor exports under.
type abandonableExporter struct {
	sdktrace.SpanExporter
	stop context.Context
}

func (e abandonableExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.stop, cancel)()
	return e.SpanExporter.ExportSpans(ctx, spans)
}

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []resource.Option{
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	}
	if cfg.Service != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceName(cfg.Service)))
	}
	if cfg.Version != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(cfg.Version)))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Attributes)) {
		if v := cfg.Attributes[k]; v != "" {
			attrs = append(attrs, resource.WithAttributes(attribute.String(k, v)))
		}
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource for %q: %w", cfg.Service, err)
	}
	return res, nil
}

// Meter returns a meter of this Telemetry's provider (a no-op meter on a nil
// or zero Telemetry).
func (t *Telemetry) Meter(name string) metric.Meter {
	if t == nil || t.mp == nil {
		return metricnoop.NewMeterProvider().Meter(name)
	}
	return t.mp.Meter(name)
}

// Tracer returns a tracer of this Telemetry's provider: a no-op tracer when
// tracing is off, and on a nil or zero Telemetry.
func (t *Telemetry) Tracer(name string) trace.Tracer {
	if t == nil || t.tracers == nil {
		return tracenoop.NewTracerProvider().Tracer(name)
	}
	return t.tracers.Tracer(name)
}

// AddReadiness registers a check /readyz runs; registering a name again
// replaces its check. The check gets a context that ends after
// [ReadinessTimeout] and should return promptly when it does.
func (t *Telemetry) AddReadiness(name string, check func(context.Context) error) {
	if t == nil || check == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.checks == nil {
		t.checks = map[string]func(context.Context) error{}
	}
	t.checks[name] = check
}

// Addr is the address the HTTP server is bound to ("" when not serving).
func (t *Telemetry) Addr() string {
	if t == nil || t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

// Handler serves /metrics, /healthz and /readyz; Start serves it on
// MetricsAddr, and a binary with an HTTP server of its own can mount it there.
func (t *Telemetry) Handler() http.Handler {
	mux := http.NewServeMux()
	if t != nil && t.registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", t.serveReady)
	return mux
}

func (t *Telemetry) serveReady(w http.ResponseWriter, r *http.Request) {
	failures := t.Ready(r.Context())
	if len(failures) == 0 {
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	var b strings.Builder
	for _, f := range failures {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	writeText(w, http.StatusServiceUnavailable, b.String())
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// Ready runs every readiness check concurrently within [ReadinessTimeout] and
// returns one "name: error" line per failing check, sorted by name; none when
// all pass. A check still running at the deadline fails with the context's
// error; one that panics fails with the panic.
func (t *Telemetry) Ready(ctx context.Context) []string {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	checks := make(map[string]func(context.Context) error, len(t.checks))
	for name, c := range t.checks {
		checks[name] = c
	}
	t.mu.Unlock()
	if len(checks) == 0 {
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, ReadinessTimeout)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks)) // buffered: a late check never blocks
	for name, check := range checks {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					results <- result{name, fmt.Errorf("panic: %v", p)}
				}
			}()
			results <- result{name, check(ctx)}
		}()
	}
	var failures []string
	pending := make(map[string]bool, len(checks))
	for name := range checks {
		pending[name] = true
	}
	for len(pending) > 0 {
		select {
		case res := <-results:
			delete(pending, res.name)
			if res.err != nil {
				failures = append(failures, res.name+": "+oneLine(res.err.Error()))
			}
		case <-ctx.Done():
			for name := range pending {
				failures = append(failures, fmt.Sprintf("%s: no answer within %s: %v",
					name, ReadinessTimeout, context.Cause(ctx)))
			}
			pending = nil
		}
	}
	sort.Strings(failures)
	return failures
}

// oneLine keeps a failing check to one line of the /readyz body.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Shutdown stops the HTTP server (closing it outright if in-flight requests
// outlast ctx), then flushes and stops the tracer and meter providers, all
// within ctx's deadline; it returns every error met, joined. It is safe on a
// nil or zero Telemetry and when called again (later calls return the first
// call's result).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.shutdownOnce.Do(func() { t.shutdownErr = t.shutdown(ctx) })
	return t.shutdownErr
}

func (t *Telemetry) shutdown(ctx context.Context) error {
	var errs []error
	if t.srv != nil {
		if err := t.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: stop HTTP server on %s: %w", t.Addr(), err))
			_ = t.srv.Close()
		}
		if err := <-t.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("telemetry: HTTP server on %s: %w", t.Addr(), err))
		}
	} else if t.ln != nil {
		_ = t.ln.Close()
	}
	if t.tp != nil {
		// The batch processor's final flush runs on a context of its own
		// (bounded only by batchExportTimeout, with the exporter retrying
		// within it), so when ctx ends first, cancel the export ourselves:
		// otherwise it, and the gRPC connection, outlive Shutdown.
		stop := context.AfterFunc(ctx, t.abandonExports)
		if err := t.tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: flush and stop tracer provider: %w", err))
		}
		stop()
		t.abandonExports()
	}
	if t.mp != nil {
		if err := t.mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: stop meter provider: %w", err))
		}
	}
	return errors.Join(errs...)
}

// levelAtLeast drops records below min: the exporter-toolkit logs each start at Info, which our own line says.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}
