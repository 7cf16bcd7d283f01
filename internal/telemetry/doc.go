// Package telemetry is the self-telemetry both gpumeter binaries share: an
// OpenTelemetry MeterProvider exported in the Prometheus format, a
// TracerProvider exporting over OTLP/gRPC (or a no-op one), and one small HTTP
// server serving /metrics, /healthz and /readyz.
//
// # Lifecycle
//
// [Start] builds everything from a [Config] and returns a [*Telemetry];
// [Telemetry.Shutdown] stops the HTTP server, then flushes and stops the
// providers within its context's deadline. Shutdown is safe on a nil or zero
// *Telemetry and on a second call. Nothing here touches OpenTelemetry's or
// Prometheus's process-wide globals: every Telemetry has its own Prometheus
// registry and providers, so tests can run several at once; components get
// their meters and tracers from the *Telemetry they are handed.
//
// A nil *Telemetry hands out no-op meters and tracers, so a component can take
// a *Telemetry and still run (in tests, say) without one.
//
// # Readiness
//
// /healthz answers 200 "ok" while the process runs. /readyz runs every check
// registered with [Telemetry.AddReadiness] concurrently with a 2 s deadline and
// answers 200 "ok" when all pass, else 503 with one line per failing check,
// "name: error", sorted by name.
//
// # Metric names
//
// Instruments are named after the OpenTelemetry semantic conventions:
// lower-case, dot-separated, starting with the binary's namespace
// (gpumeter.agent.*, gpumeter.collector.*); the unit goes in the unit, never
// in the name, as UCUM: "s", "By", "J", or an annotation in braces for a
// count of things ("{record}", "{batch}").
//
// The Prometheus exporter (translation strategy UnderscoreEscapingWithSuffixes,
// set explicitly) derives the exposed name from name and unit:
//
//   - each run of characters outside [a-zA-Z0-9:] becomes one "_" (so "."
//     becomes "_");
//   - a unit with a Prometheus spelling is appended as a suffix unless the
//     name already has that word: "s" → "_seconds", "ms" → "_milliseconds",
//     "By" → "_bytes", "J" → "_joules", "1" on a gauge → "_ratio"; an
//     annotation such as "{record}" adds nothing;
//   - a counter (monotonic sum) gets "_total" last;
//   - a histogram becomes the _bucket, _sum and _count series.
//
// For example:
//
//	gpumeter.collector.records.inserted  {record}  counter    → gpumeter_collector_records_inserted_total
//	gpumeter.collector.insert.duration   s         histogram  → gpumeter_collector_insert_duration_seconds_bucket/_sum/_count
//	gpumeter.agent.spool.size            By        gauge      → gpumeter_agent_spool_size_bytes
//	gpumeter.agent.gpus                  {gpu}     gauge      → gpumeter_agent_gpus
//
// So keep the unit and "total" out of the instrument name: the exporter adds
// them, and the OpenTelemetry name stays clean for OTLP consumers. Series carry no otel_scope_* labels (the exporter's scope info is
// turned off); the resource (service.name, service.version, host.name, SDK) is
// exposed once, as the target_info series.
//
// [Counter], [Gauge] and [GaugeFloat] expose running totals a binary already
// keeps (in sync/atomic values, say) as observable instruments read at scrape
// time, so the state is not kept twice.
package telemetry
