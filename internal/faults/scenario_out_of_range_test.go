//go:build faults

package faults

import (
	"context"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/schema"
)

// outOfRange is one record the collector must dead-letter, and the field its reason names.
type outOfRange struct {
	what, field string
	edit        func(r *schema.Record)
}

// outOfRangeRecords: times ClickHouse's DateTime cannot hold (stored wrapped before: 1900 became 2036), a window a
// year ahead of the collector's clock, intervals the identity or the hourly rollup cannot hold, and absurd measures.
var outOfRangeRecords = []outOfRange{
	{"year 1900", "interval_start", func(r *schema.Record) { span(r, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute) }},
	{"year 1969", "interval_start", func(r *schema.Record) { span(r, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Minute) }},
	{"epoch zero", "interval_start", func(r *schema.Record) { span(r, time.Unix(0, 0).UTC(), time.Minute) }},
	{"year 2200", "interval_start", func(r *schema.Record) { span(r, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute) }},
	{"a year ahead", "window_end", func(r *schema.Record) { span(r, time.Now().Add(365*24*time.Hour).Truncate(time.Hour), time.Minute) }},
	{"500 ms interval", "interval_end", func(r *schema.Record) { span(r, simStart, 500*time.Millisecond) }},
	{"2 h interval", "interval_end", func(r *schema.Record) { span(r, simStart, 2*time.Hour) }},
	{"24 h interval", "interval_end", func(r *schema.Record) { span(r, simStart, 24*time.Hour) }},
	{"unaligned interval", "interval_start", func(r *schema.Record) { span(r, simStart.Add(30*time.Second), time.Minute) }},
	{"energy 1e308", "energy_joules", func(r *schema.Record) { r.EnergyJoules = schema.Float(1e308) }},
	{"busy over the window", "busy_seconds", func(r *schema.Record) { r.BusySeconds = schema.Float(61) }},
}

// span gives r one full window of length d from start.
func span(r *schema.Record, start time.Time, d time.Duration) {
	r.IntervalStart, r.IntervalEnd, r.WindowStart, r.WindowEnd = start, start.Add(d), start, start.Add(d)
	r.ProvisionedSeconds, r.AllocatedSeconds = d.Seconds(), d.Seconds()
}

func init() {
	scenarios = append(scenarios, scenario{
		name: "out-of-range", what: "records with times ClickHouse cannot store (1900, 1969, the epoch, 2200), a year in " +
			"the future, 500 ms / 2 h / 24 h / unaligned intervals and absurd measures are produced among the agents' records: " +
			"each is dead-lettered naming its field, every good record is stored exactly",
		duration: 2 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.3)
			r.requireAgentsRunning("before producing out-of-range records")
			var msgs []kafka.Message
			for i, o := range outOfRangeRecords {
				n := r.nodes[i%len(r.nodes)]
				rec := schema.Record{Version: schema.Version, Node: n.name, Provider: n.provider, Region: n.region,
					InstanceType: n.instanceType, GPUUUID: "GPU-out-of-range-" + strings.ReplaceAll(o.what, " ", "-"),
					GPUModel: "NVIDIA H100 80GB HBM3", Samples: 6, EnergyJoules: schema.Float(1000)}
				span(&rec, simStart.Add(time.Duration(i)*interval), interval)
				o.edit(&rec)
				b, err := schema.Encode(&rec)
				if err != nil {
					r.t.Fatal(err)
				}
				msgs = append(msgs, kafka.Message{Key: rec.Key(), Value: b, Headers: []kafka.Header{{Key: "case", Value: []byte(o.what)}}})
			}
			ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
			defer cancel()
			if err := produce(ctx, r.topic, msgs...); err != nil {
				r.t.Fatalf("produce out-of-range records: %v", err)
			}
			r.res.note("%d out-of-range records produced at %s", len(msgs), r.progress())
		},
		verify: func(r *run) {
			if r.res.deadLettered != len(outOfRangeRecords) {
				r.t.Errorf("%d messages dead-lettered, want the %d out-of-range records", r.res.deadLettered, len(outOfRangeRecords))
			}
			ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
			defer cancel()
			dead, _, err := readTopic(ctx, r.dlq)
			if err != nil {
				r.t.Fatalf("read dead letters: %v", err)
			}
			field := map[string]string{}
			for _, o := range outOfRangeRecords {
				field[o.what] = o.field
			}
			for _, m := range dead {
				what, reason := header(m, "case"), header(m, consume.HeaderError)
				if !strings.Contains(reason, "invalid record: "+field[what]+":") {
					r.t.Errorf("%s: dead-letter reason %q, want it to name %s", what, reason, field[what])
				}
				r.res.note("%s: %s", what, reason)
			}
		},
	})
}
