package window

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/schema"
)

func TestCheckpointRestoreAfterKill(t *testing.T) {
	meta := Meta{Node: "n1", Provider: "azure"}
	mk := constant(0.5, 100)
	feed := func(acc *Accumulator, from, to time.Duration) []schema.Record {
		var out []schema.Record
		for _, at := range every(from, to, time.Second) {
			s := mk(0, at)
			s.Time = t0.Add(at)
			out = append(out, add(acc, s)...)
		}
		return out
	}

	first := New(time.Minute, 5*time.Second, meta)
	sent := feed(first, 0, 75*time.Second)
	stored, err := json.Marshal( // as the agent stores it
		first.Snapshot(t0.Add(75*time.Second), nil))
	if err != nil {
		t.Fatal(err)
	}
	feed(first, 76*time.Second, 80*time.Second) // measured after the checkpoint, then kill -9: lost

	var c Checkpoint
	if err := json.Unmarshal(stored, &c); err != nil {
		t.Fatalf("read checkpoint: %v", err)
	}
	second := New(time.Minute, 5*time.Second, meta)
	if err := second.Restore(c); err != nil {
		t.Fatal(err)
	}
	sent = append(sent, feed(second, 100*time.Second, 180*time.Second)...)
	sent = append(sent, second.Flush()...)

	sort.Slice(sent, func(i, j int) bool { return sent[i].WindowStart.Before(sent[j].WindowStart) })
	want := [][2]time.Duration{{0, 60 * time.Second}, {60 * time.Second, 75 * time.Second},
		{100 * time.Second, 120 * time.Second}, {120 * time.Second, 180 * time.Second}}
	if len(sent) != len(want) {
		t.Fatalf("got %d records, want %d", len(sent), len(want))
	}
	var total float64
	for i, w := range want {
		r := sent[i]
		if !r.WindowStart.Equal(t0.Add(w[0])) || !r.WindowEnd.Equal(t0.Add(w[1])) {
			t.Errorf("record %d covers %s..%s, want %s..%s", i, r.WindowStart.Sub(t0), r.WindowEnd.Sub(t0), w[0], w[1])
		}
		if i > 0 && r.WindowStart.Before(sent[i-1].WindowEnd) {
			t.Errorf("record %d overlaps the previous one", i)
		}
		total += r.ProvisionedSeconds
	}
	// Lost: what was measured after the checkpoint (75..80) and the downtime (80..100).
	if total != 155 {
		t.Errorf("provisioned %g s in all, want 155", total)
	}
}

func TestRestoreRefusesAnotherNode(t *testing.T) {
	a := New(time.Minute, 5*time.Second, Meta{Node: "a"})
	b := New(time.Minute, 5*time.Second, Meta{Node: "b"})
	if err := b.Restore(a.Snapshot(t0, nil)); err == nil {
		t.Fatal("restored another node's checkpoint")
	}
}
