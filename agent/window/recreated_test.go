package window

import (
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/schema"
)

// A pod deleted and recreated under the same name within one window (a new UID) is another workload: two records,
// each with its own part of the window, never one merged record.
func TestRecreatedPodIsAnotherWorkload(t *testing.T) {
	acc := New(time.Minute, 3*time.Second, Meta{Node: "n"})
	old := attribution.Attribution{Namespace: "research", Pod: "a", Team: "research", UID: "uid-old"}
	recreated := old
	recreated.UID = "uid-new"
	var recs []schema.Record
	for i := 0; i <= 60; i++ {
		holder := old
		if i > 30 {
			holder = recreated
		}
		s := gpu.Sample{Time: t0.Add(time.Duration(i) * time.Second), GPU: GPU{UUID: "GPU-r"}, Utilization: f(0.5)}
		recs = append(recs, acc.AddShared(s, []attribution.Share{{Attribution: holder, Weight: 1}})...)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want one per pod incarnation: %+v", len(recs), recs)
	}
	var total float64
	for _, r := range recs {
		if r.Namespace != "research" || r.Pod != "a" {
			t.Errorf("record for %s/%s, want research/a", r.Namespace, r.Pod)
		}
		if r.ProvisionedSeconds != 30 {
			t.Errorf("an incarnation provisioned %g s, want 30", r.ProvisionedSeconds)
		}
		total += r.ProvisionedSeconds
	}
	if total != 60 {
		t.Errorf("provisioned %g s in all, want the window's 60", total)
	}
}
