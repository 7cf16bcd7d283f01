package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gpumeter/gpumeter/schema"
)

// Row is a record with where it came from in Kafka, kept on the raw row for audits.
type Row struct {
	schema.Record
	Topic     string
	Partition int
	Offset    int64
}

// rawColumn is one column of usage_raw and how a row fills it. The column goes to the batch as typed slices
// (columnar: no interface value per field and row), a chunk of rows at a time: append writes rows' values into buf
// (from newBuf, fillChunk long) and appends them to the batch's column, which copies them.
type rawColumn struct {
	name   string
	newBuf func() any
	append func(to columnAppender, buf any, rows []Row) error
}

// columnAppender is the batch's column (driver.BatchColumn).
type columnAppender interface{ Append(v any) error }

func col[T any](name string, value func(r *Row) T) rawColumn {
	return rawColumn{
		name:   name,
		newBuf: func() any { return make([]T, fillChunk) },
		append: func(to columnAppender, buf any, rows []Row) error {
			out := buf.([]T)[:len(rows)]
			for i := range rows {
				out[i] = value(&rows[i])
			}
			return to.Append(out)
		},
	}
}

// fillChunk is how many rows go to every column before the next rows do: a chunk of rows stays in the CPU's cache
// while all the columns read it (a whole batch, 50 000 rows of about 400 bytes, was read from memory once per
// column), and the columns' slices are a chunk long, reused, rather than a batch long (some 20 MiB at 50 000).
const fillChunk = 256

// appendRaw appends rows to the batch's columns (column i of rawColumns to columns(i)).
func appendRaw(columns func(i int) columnAppender, rows []Row) error {
	bufs := make([]any, len(rawColumns))
	for i, c := range rawColumns {
		bufs[i] = c.newBuf()
	}
	for at := 0; at < len(rows); at += fillChunk {
		chunk := rows[at:min(at+fillChunk, len(rows))]
		for i, c := range rawColumns {
			if err := c.append(columns(i), bufs[i], chunk); err != nil {
				return fmt.Errorf("append column %s of %d rows (first node %s gpu %s): %w", c.name, len(rows),
					rows[0].Node, rows[0].GPUUUID, err)
			}
		}
	}
	return nil
}

// rawColumns is the one place that maps a row onto usage_raw: a new record field is one line here plus the migration
// that adds its column (TestRawColumnsMatchTable checks that the two agree).
var rawColumns = []rawColumn{
	col("interval_start", func(r *Row) time.Time { return r.IntervalStart }),
	col("interval_end", func(r *Row) time.Time { return r.IntervalEnd }),
	col("window_start", func(r *Row) time.Time { return r.WindowStart }),
	col("window_end", func(r *Row) time.Time { return r.WindowEnd }),
	col("provider", func(r *Row) string { return r.Provider }),
	col("region", func(r *Row) string { return r.Region }),
	col("zone", func(r *Row) string { return r.Zone }),
	col("instance_type", func(r *Row) string { return r.InstanceType }),
	col("account", func(r *Row) string { return r.Account }),
	col("node", func(r *Row) string { return r.Node }),
	col("gpu_uuid", func(r *Row) string { return r.GPUUUID }),
	col("gpu_index", func(r *Row) uint16 { return uint16(r.GPUIndex) }),
	col("gpu_model", func(r *Row) string { return r.GPUModel }),
	col("mig_profile", func(r *Row) string { return r.MIGProfile }),
	col("parent_gpu_uuid", func(r *Row) string { return r.ParentGPUUUID }),
	col("namespace", func(r *Row) string { return r.Namespace }),
	col("pod", func(r *Row) string { return r.Pod }),
	col("team", func(r *Row) string { return r.Team }),
	col("provisioned_seconds", func(r *Row) float64 { return r.ProvisionedSeconds }),
	col("allocated_seconds", func(r *Row) float64 { return r.AllocatedSeconds }),
	col("busy_seconds", func(r *Row) *float64 { return r.BusySeconds }),
	col("memory_used_avg_bytes", func(r *Row) float64 { return r.MemoryUsedAvgBytes }),
	col("memory_used_max_bytes", func(r *Row) uint64 { return r.MemoryUsedMaxBytes }),
	col("memory_total_bytes", func(r *Row) uint64 { return r.MemoryTotalBytes }),
	col("energy_joules", func(r *Row) *float64 { return r.EnergyJoules }),
	col("power_avg_watts", func(r *Row) *float64 { return r.PowerAvgWatts }),
	col("samples", func(r *Row) uint32 { return r.Samples }),
	col("schema_version", func(r *Row) uint8 { return uint8(r.Version) }),
	col("kafka_topic", func(r *Row) string { return r.Topic }),
	col("kafka_partition", func(r *Row) int32 { return int32(r.Partition) }),
	col("kafka_offset", func(r *Row) int64 { return r.Offset }),
}

// insertRawStatement is the INSERT for rawColumns, in their order (clickhouse-go batches need the column list).
var insertRawStatement = func() string {
	names := make([]string, len(rawColumns))
	for i, c := range rawColumns {
		names[i] = c.name
	}
	return "INSERT INTO %s.usage_raw (" + strings.Join(names, ", ") + ")"
}()

// WriteRaw writes rows into usage_raw as one INSERT, without touching the rollups: a caller that uses it directly must
// call Recompute for Touched(rows) (or Pending.Add and Flush) before it treats the rows as stored (before committing
// their offsets), or the rollups miss them until those node-hours are recomputed again. Insert does both.
func (s *Store) WriteRaw(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, fmt.Sprintf(insertRawStatement, s.db))
	if err != nil {
		return fmt.Errorf("prepare insert of %d rows into %s.usage_raw: %w", len(rows), s.db, err)
	}
	defer func() { _ = batch.Abort() }()
	if err := appendRaw(func(i int) columnAppender { return batch.Column(i) }, rows); err != nil {
		return err
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s.usage_raw: %w", len(rows), s.db, err)
	}
	return nil
}
