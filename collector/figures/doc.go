// Package figures computes what gpumeter's outputs show, from ClickHouse's rollups and commitment views: each
// commitment's figures at a moment (Status), its hourly series, GPU-hours per provider and day, the right-of-first-
// refusal classification of the primary's overflow (ROFR, rofr.go) and the hourly rows the FOCUS export prices. The
// report renders these, the evaluator alerts and exports metrics on them, the export writes them as FOCUS rows; none
// of them queries ClickHouse itself.
//
// Every read is bounded by the period it shows and reads rollups (gpu_usage_hourly and the commitment views built on
// the hourly rollup), never raw history (schema/README.md, "Commitment figures"). The SQL lives in
// schema/clickhouse/queries.
package figures
