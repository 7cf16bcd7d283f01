package window

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/schema"
)

type (
	GPU         = gpu.GPU
	Attribution = attribution.Attribution
)

// Sample is what the scripts build: a reading and the workload the GPU served meanwhile.
type Sample struct {
	gpu.Sample
	Attribution
}

// add feeds s to acc.
func add(acc *Accumulator, s Sample) []schema.Record { return acc.Add(s.Sample, s.Attribution) }

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func f(v float64) *float64 { return &v }
func u(v uint64) *uint64   { return &v }

// script describes a run: one GPU sampled at the given offsets, each sample built by mk.
type script struct {
	offsets []time.Duration
	mk      func(i int, at time.Duration) Sample
}

func every(from, to, step time.Duration) []time.Duration {
	var out []time.Duration
	for at := from; at <= to; at += step {
		out = append(out, at)
	}
	return out
}

func constant(util, watts float64) func(int, time.Duration) Sample {
	return func(_ int, at time.Duration) Sample {
		return Sample{
			Sample: gpu.Sample{
				GPU:         GPU{UUID: "GPU-1", Model: "H100", MemoryTotalBytes: 80 << 30},
				Utilization: f(util), MemoryUsedBytes: 10 << 30, PowerWatts: f(watts),
				EnergyMJ: u(uint64(watts * at.Seconds() * 1000)),
			},
			Attribution: Attribution{Namespace: "ml", Pod: "p", Team: "research"},
		}
	}
}

func run(t *testing.T, s script, maxGap time.Duration) []schema.Record {
	t.Helper()
	acc := New(time.Minute, maxGap, Meta{Node: "n1", Provider: "azure"})
	var out []schema.Record
	for i, at := range s.offsets {
		smp := s.mk(i, at)
		smp.Time = t0.Add(at)
		out = append(out, add(acc, smp)...)
	}
	out = append(out, acc.Flush()...)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].WindowStart.Equal(out[j].WindowStart) {
			return out[i].WindowStart.Before(out[j].WindowStart)
		}
		return out[i].Pod < out[j].Pod
	})
	for _, r := range out {
		if err := r.Validate(); err != nil {
			t.Errorf("record %v fails validation: %v", r.WindowStart, err)
		}
	}
	return out
}

type want struct {
	start, end  time.Duration // window, relative to t0
	provisioned float64
	allocated   float64
	busy        *float64
	energy      *float64
	pod         string
}

func TestAccumulator(t *testing.T) {
	tests := []struct {
		name   string
		script script
		maxGap time.Duration
		want   []want
	}{
		{
			name:   "aligned constant load fills whole intervals",
			script: script{every(0, 180*time.Second, time.Second), constant(0.7, 500)},
			want: []want{
				{0, 60 * time.Second, 60, 60, f(42), f(30000), "p"},
				{60 * time.Second, 120 * time.Second, 60, 60, f(42), f(30000), "p"},
				{120 * time.Second, 180 * time.Second, 60, 60, f(42), f(30000), "p"},
			},
		},
		{
			name:   "start and stop mid-interval give partial windows",
			script: script{every(17500*time.Millisecond, 125500*time.Millisecond, time.Second), constant(0.5, 100)},
			want: []want{
				{17500 * time.Millisecond, 60 * time.Second, 42.5, 42.5, f(21.25), f(4250), "p"},
				{60 * time.Second, 120 * time.Second, 60, 60, f(30), f(6000), "p"},
				{120 * time.Second, 125500 * time.Millisecond, 5.5, 5.5, f(2.75), f(550), "p"},
			},
		},
		{
			name:   "a sample straddling the boundary is split by time",
			script: script{[]time.Duration{50 * time.Second, 55 * time.Second, 65 * time.Second}, constant(1, 200)},
			maxGap: 20 * time.Second,
			want: []want{
				{50 * time.Second, 60 * time.Second, 10, 10, f(10), f(2000), "p"},
				{60 * time.Second, 65 * time.Second, 5, 5, f(5), f(1000), "p"},
			},
		},
		{
			name: "a gap is not integrated",
			script: script{append(every(0, 10*time.Second, time.Second), every(40*time.Second, 50*time.Second, time.Second)...),
				constant(1, 100)},
			want: []want{
				{0, 10 * time.Second, 10, 10, f(10), f(1000), "p"},
				{40 * time.Second, 50 * time.Second, 10, 10, f(10), f(1000), "p"},
			},
		},
		{
			name: "attribution changes mid-interval",
			script: script{every(0, 60*time.Second, time.Second), func(i int, at time.Duration) Sample {
				s := constant(0.5, 100)(i, at)
				if at > 20*time.Second {
					s.Attribution = Attribution{}
				}
				return s
			}},
			want: []want{
				{0, 20 * time.Second, 20, 20, f(10), f(2000), "p"},
				{20 * time.Second, 60 * time.Second, 40, 0, f(20), f(4000), ""},
			},
		},
		{
			name: "unknown utilization stays unknown",
			script: script{every(0, 60*time.Second, time.Second), func(i int, at time.Duration) Sample {
				s := constant(0.5, 100)(i, at)
				s.Utilization = nil
				return s
			}},
			want: []want{{0, 60 * time.Second, 60, 60, nil, f(6000), "p"}},
		},
		{
			name: "energy counter reset falls back to power",
			script: script{every(0, 60*time.Second, 10*time.Second), func(i int, at time.Duration) Sample {
				s := constant(0, 100)(i, at)
				if at >= 30*time.Second {
					s.EnergyMJ = u(uint64((at - 30*time.Second).Seconds() * 100 * 1000))
				}
				return s
			}},
			maxGap: 15 * time.Second,
			want:   []want{{0, 60 * time.Second, 60, 60, f(0), f(6000), "p"}},
		},
		{
			name: "no counter and no power: energy unknown",
			script: script{every(0, 60*time.Second, 10*time.Second), func(i int, at time.Duration) Sample {
				s := constant(0.2, 100)(i, at)
				s.EnergyMJ, s.PowerWatts = nil, nil
				return s
			}},
			maxGap: 15 * time.Second,
			want:   []want{{0, 60 * time.Second, 60, 60, f(12), nil, "p"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gap := tt.maxGap
			if gap == 0 {
				gap = 5 * time.Second
			}
			got := run(t, tt.script, gap)
			if len(got) != len(tt.want) {
				for _, r := range got {
					t.Logf("got %s..%s prov=%g", r.WindowStart.Sub(t0), r.WindowEnd.Sub(t0), r.ProvisionedSeconds)
				}
				t.Fatalf("got %d records, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				r := got[i]
				if !r.WindowStart.Equal(t0.Add(w.start)) || !r.WindowEnd.Equal(t0.Add(w.end)) {
					t.Errorf("record %d window %s..%s, want %s..%s", i, r.WindowStart.Sub(t0), r.WindowEnd.Sub(t0), w.start, w.end)
				}
				if !r.IntervalStart.Equal(AlignDown(r.WindowStart, time.Minute)) || r.IntervalEnd.Sub(r.IntervalStart) != time.Minute {
					t.Errorf("record %d interval %s..%s not aligned around its window", i, r.IntervalStart, r.IntervalEnd)
				}
				checkF(t, i, "provisioned", f(r.ProvisionedSeconds), f(w.provisioned))
				checkF(t, i, "allocated", f(r.AllocatedSeconds), f(w.allocated))
				checkF(t, i, "busy", r.BusySeconds, w.busy)
				checkF(t, i, "energy", r.EnergyJoules, w.energy)
				if r.Pod != w.pod {
					t.Errorf("record %d pod %q, want %q", i, r.Pod, w.pod)
				}
			}
		})
	}
}

func checkF(t *testing.T, i int, what string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("record %d %s = %v, want %v", i, what, deref(got), deref(want))
	case math.Abs(*got-*want) > 1e-9*math.Max(1, math.Abs(*want)):
		t.Errorf("record %d %s = %.12g, want %.12g", i, what, *got, *want)
	}
}

func deref(p *float64) any {
	if p == nil {
		return "unknown"
	}
	return *p
}

func TestAlignDown(t *testing.T) {
	tests := []struct {
		in   time.Time
		d    time.Duration
		want time.Time
	}{
		{t0.Add(59 * time.Second), time.Minute, t0},
		{t0.Add(time.Minute), time.Minute, t0.Add(time.Minute)},
		{t0.Add(29*time.Minute + 5*time.Second), time.Hour, t0},
		{time.Unix(-30, 0), time.Minute, time.Unix(-60, 0).UTC()},
		{time.Unix(1000, 0), 7 * time.Second, time.Unix(994, 0).UTC()}, // epoch-aligned, not year-1-aligned
	}
	for _, tt := range tests {
		if got := AlignDown(tt.in, tt.d); !got.Equal(tt.want) {
			t.Errorf("AlignDown(%s, %s) = %s, want %s", tt.in, tt.d, got, tt.want)
		}
	}
}

// A sample no later than the previous one (what agent/clock.Forward hands out when the wall clock stepped back) is a
// discontinuity: the open windows close where they are, and measuring goes on from the new sample without overlap.
func TestClockStepBackClosesWindows(t *testing.T) {
	acc := New(time.Minute, 5*time.Second, Meta{Node: "n", Provider: "aws"})
	mk := constant(1, 100)
	var recs []schema.Record
	for _, at := range []time.Duration{0, time.Second, time.Second, 2 * time.Second, 3 * time.Second} {
		s := mk(0, at)
		s.Time = t0.Add(at)
		recs = append(recs, add(acc, s)...)
	}
	if len(recs) != 1 || recs[0].ProvisionedSeconds != 1 || !recs[0].WindowEnd.Equal(t0.Add(time.Second)) {
		t.Fatalf("at the step got %+v, want one record of 1 s ending at the last sample before it", recs)
	}
	recs = append(recs, acc.Flush()...)
	if len(recs) != 2 || recs[1].ProvisionedSeconds != 2 || !recs[1].WindowStart.Equal(t0.Add(time.Second)) {
		t.Fatalf("got %+v, want a second record of 2 s from the step on", recs)
	}
	if last, ok := acc.Last(); !ok || !last.Equal(t0.Add(3*time.Second)) {
		t.Errorf("Last() = %s, %v; want the last sample", last, ok)
	}
}

func BenchmarkAdd(b *testing.B) {
	acc := New(time.Minute, 5*time.Second, Meta{Node: "n", Provider: "aws"})
	mk := constant(0.5, 300)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := mk(i, time.Duration(i)*time.Second)
		s.Time = t0.Add(time.Duration(i) * time.Second)
		add(acc, s)
		i++
	}
}
