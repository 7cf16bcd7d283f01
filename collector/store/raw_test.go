package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/fleet"
)

func fleetRows(tb testing.TB, gpus int) []Row {
	tb.Helper()
	f, err := fleet.New(fleet.Shape{GPUs: gpus, Start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Duration: time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	rows := make([]Row, 0, gpus)
	for r := range f.All() {
		rows = append(rows, Row{Record: *r, Topic: "gpumeter.usage.v1", Partition: len(rows) % 12, Offset: int64(len(rows))})
	}
	return rows
}

// recordingColumn is a batch's column that keeps what was appended.
type recordingColumn struct{ values []any }

func (c *recordingColumn) Append(v any) error {
	rv := reflect.ValueOf(v)
	for i := range rv.Len() {
		c.values = append(c.values, rv.Index(i).Interface())
	}
	return nil
}

// appendRaw gives every column every row's value, in order, whatever the batch's size against fillChunk.
func TestAppendRaw(t *testing.T) {
	all := fleetRows(t, 2*fillChunk+8)
	for _, n := range []int{1, fillChunk - 1, fillChunk, fillChunk + 1, len(all)} {
		rows := all[:n]
		cols := make([]*recordingColumn, len(rawColumns))
		for i := range cols {
			cols[i] = &recordingColumn{}
		}
		if err := appendRaw(func(i int) columnAppender { return cols[i] }, rows); err != nil {
			t.Fatal(err)
		}
		for i, c := range rawColumns {
			var want recordingColumn
			for j := range rows {
				if err := c.append(&want, c.newBuf(), rows[j:j+1]); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(cols[i].values, want.values) {
				t.Fatalf("%d rows: column %s differs", n, c.name)
			}
		}
		if got := cols[0].values[n-1].(time.Time); !got.Equal(rows[n-1].IntervalStart) {
			t.Fatalf("%d rows: last interval_start %v, want %v", n, got, rows[n-1].IntervalStart)
		}
		if got := cols[len(cols)-1].values[n-1].(int64); got != rows[n-1].Offset {
			t.Fatalf("%d rows: last kafka_offset %d, want %d", n, got, rows[n-1].Offset)
		}
	}
}

// discardColumn is a batch's column that drops what it is given.
type discardColumn struct{}

func (discardColumn) Append(any) error { return nil }

// BenchmarkAppendRaw fills the columns of a batch of 50 000 rows (the collector's default batch), without a server
// (and without the client's own copy into its columns).
func BenchmarkAppendRaw(b *testing.B) {
	rows := fleetRows(b, 50_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := appendRaw(func(int) columnAppender { return discardColumn{} }, rows); err != nil {
			b.Fatal(err)
		}
	}
}
