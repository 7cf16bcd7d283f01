//go:build integration

package e2e

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent"
	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/sim"
	"github.com/gpumeter/gpumeter/agent/window"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
)

type node struct {
	name, provider, region, instanceType, machine string
	util                                          float64
}

var fleet = []node{
	{"azure-nd-0", "azure", "eastus", "Standard_ND96isr_H100_v5", "dgxh100", 0.70},
	{"azure-nd-1", "azure", "eastus", "Standard_ND96isr_H100_v5", "dgxh100", 0.55},
	{"azure-nd-2", "azure", "eastus", "Standard_ND96isr_H100_v5", "dgxh100", 0.90},
	{"oci-bm-0", "oracle_cloud", "us-ashburn-1", "BM.GPU.H100.8", "dgxh100", 0.30},
	{"oci-bm-1", "oracle_cloud", "us-ashburn-1", "BM.GPU.H100.8", "dgxh100", 0.65},
	{"aws-p5-0", "aws", "us-east-1", "p5.48xlarge", "dgxh100", 0.80},
}

const (
	gpusPerNode  = 8
	runFor       = 2 * time.Hour
	samplePeriod = 10 * time.Second
	interval     = time.Minute
)

// runNode runs one simulated node's agent for runFor of virtual time, as fast as the pipeline takes it.
func runNode(ctx context.Context, t *testing.T, n node, start time.Time, brokers []string, topic string) error {
	workload, err := sim.ParseWorkload(fmt.Sprintf("constant:%g", n.util))
	if err != nil {
		return err
	}
	vclk := clock.NewVirtual(start, 0)
	lib, err := sim.New(n.machine, n.name, workload, vclk.Now)
	if err != nil {
		return err
	}
	log := testenv.Logger(t).With("node", n.name)
	src, err := gpu.Open(lib, log)
	if err != nil {
		return err
	}
	defer src.Close()
	teams, err := attribution.ParseTeams("research:4,inference:2", n.name)
	if err != nil {
		return err
	}
	cfg := agent.Config{
		Meta:         window.Meta{Node: n.name, Provider: n.provider, Region: n.region, InstanceType: n.instanceType},
		SamplePeriod: samplePeriod, Interval: interval, Duration: runFor,
	}
	return runAgent(ctx, t, cfg, vclk, src, teams, brokers, topic, log)
}

// TestFleetEndToEnd runs the fleet through Kafka into one ClickHouse server, and into the local cluster
// (--clickhouse-cluster: two shards, one of them with two replicas).
func TestFleetEndToEnd(t *testing.T) {
	for _, layout := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"one server", teststore.Migrated}, {"cluster", teststore.MigratedCluster}} {
		t.Run(layout.name, func(t *testing.T) { fleetEndToEnd(t, layout.open(t)) })
	}
}

func fleetEndToEnd(t *testing.T, st *store.Store) {
	brokers := []string{testenv.KafkaAddr(t)}
	topic, dlq := testenv.Topic(t, 6), testenv.Topic(t, 1)
	db := st.Database()

	start := window.AlignDown(time.Now().Add(-24*time.Hour), interval)
	var wg sync.WaitGroup
	errs := make([]error, len(fleet))
	for i, n := range fleet {
		wg.Go(func() { errs[i] = runNode(t.Context(), t, n, start, brokers, topic) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("agent %s: %v", fleet[i].name, err)
		}
	}

	// Every GPU closes one record per interval (GPUs keep one attribution for the whole run).
	wantRecords := int64(len(fleet) * gpusPerNode * int(runFor/interval))
	c := consumeUntil(t, st, brokers, topic, dlq, "e2e", wantRecords, testenv.Logger(t))
	if got := c.Stats.Inserted.Load(); got != wantRecords {
		t.Fatalf("collector inserted %d records, want %d", got, wantRecords)
	}

	type truth struct{ provisioned, busy float64 }
	want := map[string]*truth{}
	for _, n := range fleet {
		w := want[n.provider]
		if w == nil {
			w = &truth{}
			want[n.provider] = w
		}
		w.provisioned += gpusPerNode * runFor.Seconds()
		w.busy += gpusPerNode * runFor.Seconds() * n.util
	}
	rows, err := st.Conn().Query(t.Context(), fmt.Sprintf(`SELECT provider, sum(provisioned_seconds),
		sum(busy_seconds), sum(allocated_seconds), uniqExact(gpu_uuid) FROM %s.gpu_usage GROUP BY provider`, db))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var (
			prov                     string
			provisioned, busy, alloc float64
			gpus                     uint64
		)
		if err := rows.Scan(&prov, &provisioned, &busy, &alloc, &gpus); err != nil {
			t.Fatal(err)
		}
		seen++
		w, ok := want[prov]
		if !ok {
			t.Errorf("unexpected provider %q", prov)
			continue
		}
		if provisioned != w.provisioned {
			t.Errorf("%s: provisioned %.3f GPU-s, want exactly %.3f", prov, provisioned, w.provisioned)
		}
		if rel := math.Abs(busy-w.busy) / w.busy; rel > 0.005 {
			t.Errorf("%s: busy %.1f GPU-s, want %.1f (off by %.3f%%)", prov, busy, w.busy, 100*rel)
		}
		if wantAlloc := w.provisioned * 6 / 8; alloc != wantAlloc {
			t.Errorf("%s: allocated %.1f GPU-s, want %.1f (6 of 8 GPUs assigned)", prov, alloc, wantAlloc)
		}
		if wantGPUs := uint64(w.provisioned / runFor.Seconds()); gpus != wantGPUs {
			t.Errorf("%s: %d distinct GPUs, want %d", prov, gpus, wantGPUs)
		}
		t.Logf("%-13s provisioned %9.0f GPU-s (want %9.0f)  busy %9.1f GPU-s (want %9.1f)", prov, provisioned, w.provisioned, busy, w.busy)
	}
	if seen != len(want) {
		t.Errorf("saw %d providers, want %d", seen, len(want))
	}
}
