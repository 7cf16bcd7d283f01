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

// rawValues fills every column with every row's value, in order, whatever the batch's size against fillChunk.
func TestRawValues(t *testing.T) {
	all := fleetRows(t, 2*fillChunk+8)
	for _, n := range []int{1, fillChunk - 1, fillChunk, fillChunk + 1, len(all)} {
		rows := all[:n]
		cols := rawValues(rows)
		if len(cols) != len(rawColumns) {
			t.Fatalf("%d columns, want %d", len(cols), len(rawColumns))
		}
		for i, c := range rawColumns {
			want := c.make(n)
			for j := range rows {
				c.fill(want, rows[j:j+1], j)
			}
			if !reflect.DeepEqual(cols[i], want) {
				t.Fatalf("%d rows: column %s differs", n, c.name)
			}
		}
		if got := cols[0].([]time.Time)[n-1]; !got.Equal(rows[n-1].IntervalStart) {
			t.Fatalf("%d rows: last interval_start %v, want %v", n, got, rows[n-1].IntervalStart)
		}
		if got := cols[len(cols)-1].([]int64)[n-1]; got != rows[n-1].Offset {
			t.Fatalf("%d rows: last kafka_offset %d, want %d", n, got, rows[n-1].Offset)
		}
	}
}

// BenchmarkRawValues builds the columns of a batch of 50 000 rows (the collector's default batch), without a server.
func BenchmarkRawValues(b *testing.B) {
	rows := fleetRows(b, 50_000)
	b.ReportAllocs()
	for b.Loop() {
		_ = rawValues(rows)
	}
}
