package fleet

import (
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/schema"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestRecordsAreValidAndLaidOutLikeAgents(t *testing.T) {
	f, err := New(Shape{GPUs: 100, Start: start, Duration: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var (
		n         int
		providers = map[string]int{}
		teams     = map[string]bool{}
		idents    = map[string]bool{}
		nodes     = map[string]map[string]bool{}
		unowned   int
	)
	for r := range f.All() {
		b, err := schema.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := schema.Decode(b)
		if err != nil {
			t.Fatalf("record %d does not pass the collector's decoder: %v", n, err)
		}
		if !back.IntervalStart.Equal(back.IntervalStart.Truncate(time.Minute)) {
			t.Errorf("record %d: interval %s not aligned", n, back.IntervalStart)
		}
		id := back.Node + "/" + back.GPUUUID + "/" + back.WindowStart.String()
		if idents[id] {
			t.Errorf("record %d: identity %s repeated", n, id)
		}
		idents[id] = true
		if nodes[back.Node] == nil {
			nodes[back.Node] = map[string]bool{}
		}
		nodes[back.Node][back.GPUUUID] = true
		providers[back.Provider]++
		if back.Team == "" {
			unowned++
		} else {
			teams[back.Team] = true
		}
		n++
	}
	if n != 300 || n != f.Shape().Records() {
		t.Fatalf("%d records, want 300", n)
	}
	if len(nodes) != 13 {
		t.Errorf("%d nodes, want 13 (100 GPUs, 8 per node)", len(nodes))
	}
	for node, gpus := range nodes {
		if len(gpus) > GPUsPerNode {
			t.Errorf("node %s has %d GPUs", node, len(gpus))
		}
	}
	if len(providers) != 3 || len(teams) < 3 {
		t.Errorf("providers %v, teams %v: want 3 providers and several teams", providers, teams)
	}
	again, _ := New(Shape{GPUs: 100, Start: start, Duration: 3 * time.Minute})
	var a, b schema.Record
	f.Record(2, 57, &a)
	again.Record(2, 57, &b)
	ea, _ := schema.Encode(&a)
	eb, _ := schema.Encode(&b)
	if string(ea) != string(eb) {
		t.Errorf("not deterministic:\n%s\n%s", ea, eb)
	}
}

func TestShapeValidate(t *testing.T) {
	for _, s := range []Shape{
		{GPUs: 0, Start: start, Duration: time.Hour},
		{GPUs: 8, Start: start, Duration: 90 * time.Second},
		{GPUs: 8, Start: start.Add(time.Second), Duration: time.Hour},
		{GPUs: 8, Start: start, Duration: 7 * time.Hour, Interval: 7 * time.Hour},
	} {
		if _, err := New(s); err == nil {
			t.Errorf("shape %+v accepted", s)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	f, _ := New(Shape{GPUs: 1000, Start: start, Duration: time.Hour})
	var r schema.Record
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Record(i/1000%60, i%1000, &r)
		i++
	}
}
