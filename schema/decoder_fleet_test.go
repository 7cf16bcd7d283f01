package schema_test

import (
	"testing"
	"time"

	fleetgen "github.com/gpumeter/gpumeter/internal/fleet"
	"github.com/gpumeter/gpumeter/schema"
)

// BenchmarkDecoderFleet decodes a fleet's records (1 000 GPUs × 10 minutes) in the order agents produce them, so that
// what a Decoder keeps between records (values, times) is found as often as in a batch; per record.
func BenchmarkDecoderFleet(b *testing.B) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f, err := fleetgen.New(fleetgen.Shape{GPUs: 1000, Start: start, Duration: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	var msgs [][]byte
	for r := range f.All() {
		m, err := schema.Encode(r)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	now := start.Add(time.Hour)
	var d schema.Decoder
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := d.DecodeAt(msgs[i%len(msgs)], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
