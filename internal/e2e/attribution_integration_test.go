//go:build integration

package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/gpumeter/gpumeter/agent"
	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/attribution/attributiontest"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/sim"
	"github.com/gpumeter/gpumeter/agent/window"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
)

// kubeletOutage passes samples to the node's attribution and, at virtual times stopAt and startAt, takes the kubelet
// away and brings it back, so that the outage falls mid-run at the same point whatever the machine's speed.
type kubeletOutage struct {
	t                *testing.T
	node             *attribution.Node
	client           *attribution.Kubelet
	server           *attributiontest.Kubelet
	stopAt, startAt  time.Time
	stopped, resumed bool
}

func (o *kubeletOutage) Attribution(g gpu.GPU) attribution.Attribution { return o.node.Attribution(g) }

func (o *kubeletOutage) Shares(s gpu.Sample) []attribution.Share {
	if !o.stopped && !s.Time.Before(o.stopAt) {
		o.stopped = true
		o.server.Stop()
		if err := o.client.Refresh(o.t.Context()); err == nil {
			o.t.Error("List answered with the kubelet away")
		}
	}
	if o.stopped && !o.resumed && !s.Time.Before(o.startAt) {
		o.resumed = true
		o.server.Start(o.t)
		deadline := time.Now().Add(30 * time.Second)
		for o.client.Refresh(o.t.Context()) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return o.node.Shares(s)
}

// TestAttributionEndToEnd: one simulated dgxh100 node attributed through a real PodResources gRPC server and an API
// server speaking the Kubernetes JSON: 2 whole GPUs for pod A (team research by pod label), 1 GPU time-sliced by B
// (team inference, namespace label) and C (team research, pod label) whose processes take 75 % and 25 % of it, 1 GPU
// through a DRA claim (team = namespace dra), 1 GPU in MIG with 3 instances (1g, 2g, 3g) for 3 pods of team ml, the
// other 3 unassigned; the kubelet goes away and comes back mid-run.
func TestAttributionEndToEnd(t *testing.T) {
	const (
		nodeName = "k8s-0"
		util     = 0.8
		runFor   = time.Hour
		uidA     = "0a1b2c3d-0000-4000-8000-00000000000a"
		uidB     = "0a1b2c3d-0000-4000-8000-00000000000b"
		uidC     = "0a1b2c3d-0000-4000-8000-00000000000c"
		uidD     = "0a1b2c3d-0000-4000-8000-00000000000d"
	)
	brokers := []string{testenv.KafkaAddr(t)}
	topic, dlq := testenv.Topic(t, 1), testenv.Topic(t, 1)
	st := teststore.Migrated(t)
	db := st.Database()

	start := window.AlignDown(time.Now().Add(-24*time.Hour), interval)
	vclk := clock.NewVirtual(start, 0)
	workload, err := sim.ParseWorkload(fmt.Sprintf("constant:%g", util))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := sim.New("dgxh100", nodeName, workload, vclk.Now,
		sim.Processes(2, sim.Process{PID: 4242, Share: 0.75}, sim.Process{PID: 4343, Share: 0.25}, sim.Process{PID: 1, Share: 0}),
		sim.MIG(4, "1g.10gb", "2g.20gb", "3g.40gb"))
	if err != nil {
		t.Fatal(err)
	}
	log := testenv.Logger(t)
	src, err := gpu.Open(lib, log)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.SetPerProcess(true)
	devices := src.GPUs()
	gpus := map[int]gpu.GPU{} // whole GPUs by index
	var migs []gpu.GPU
	for _, d := range devices {
		switch {
		case d.ParentUUID != "":
			migs = append(migs, d)
		case d.Slice == 0:
			gpus[d.Index] = d
		}
	}
	if len(migs) != 3 {
		t.Fatalf("%d MIG devices, want 3", len(migs))
	}

	// /proc of the host: the shared GPU's processes in B's and C's cgroups (v2/systemd/containerd, v1/cgroupfs/CRI-O).
	proc := t.TempDir()
	for pid, cg := range map[int]string{
		4242: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + strings.ReplaceAll(uidB, "-", "_") + ".slice/cri-containerd-1.scope\n",
		4343: "4:memory:/kubepods/besteffort/pod" + uidC + "/crio-2\n",
		1:    "0::/init.scope\n",
	} {
		if err := os.MkdirAll(filepath.Join(proc, fmt.Sprint(pid)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, fmt.Sprint(pid), "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	kubelet := attributiontest.NewKubelet(t, &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		attributiontest.Pod("research", "a", []string{gpus[0].UUID, gpus[1].UUID}),
		attributiontest.Pod("inference", "b", []string{gpus[2].UUID + "::0"}),
		attributiontest.Pod("research-ml", "c", []string{gpus[2].UUID + "::1"}),
		attributiontest.Pod("dra", "d", nil, [2]string{nodeName, "gpu-3"}),
		attributiontest.Pod("ml", "m1", []string{migs[0].UUID}),
		attributiontest.Pod("ml", "m2", []string{migs[1].UUID}),
		attributiontest.Pod("ml", "m3", []string{migs[2].UUID}),
	}})
	kubelet.Start(t)
	api := attributiontest.NewAPI(t, nodeName)
	api.Add(attributiontest.Pods, api.PodJSON("research", "a", uidA, "1", map[string]string{"team": "research"}))
	api.Add(attributiontest.Pods, api.PodJSON("inference", "b", uidB, "1", nil))
	api.Add(attributiontest.Pods, api.PodJSON("research-ml", "c", uidC, "1", map[string]string{"team": "research"}))
	api.Add(attributiontest.Pods, api.PodJSON("dra", "d", uidD, "1", nil))
	api.Add(attributiontest.Namespaces, attributiontest.NamespaceJSON("inference", map[string]string{"team": "inference"}))
	api.Add(attributiontest.ResourceSlices, api.ResourceSliceJSON(attributiontest.SliceDevice{Name: "gpu-3", UUID: gpus[3].UUID}))

	kube, err := attribution.NewKube(&rest.Config{Host: api.URL}, nodeName, attribution.DefaultTeamLabel, true, log)
	if err != nil {
		t.Fatal(err)
	}
	kctx, stopKube := context.WithCancel(t.Context())
	var bg sync.WaitGroup
	defer func() { stopKube(); bg.Wait() }()
	bg.Go(func() { kube.Run(kctx) })
	sctx, cancelSync := context.WithTimeout(kctx, 30*time.Second)
	defer cancelSync()
	if !kube.WaitSynced(sctx) {
		t.Fatal("informers did not sync")
	}
	client, err := attribution.NewKubelet(attribution.KubeletConfig{Socket: kubelet.Socket, Refresh: 10 * time.Second,
		KeepFor: 5 * time.Minute, Devices: kube}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	bg.Go(func() { client.Run(kctx) })
	attr := &kubeletOutage{t: t, node: &attribution.Node{Kubelet: client, Pods: kube, Procs: attribution.Cgroups{Root: proc}},
		client: client, server: kubelet, stopAt: start.Add(20 * time.Minute), startAt: start.Add(23 * time.Minute)}

	cfg := agent.Config{Meta: window.Meta{Node: nodeName, Provider: "azure", Region: "eastus", InstanceType: "Standard_ND96isr_H100_v5"},
		SamplePeriod: samplePeriod, Interval: interval, Duration: runFor}
	if err := runAgent(t.Context(), t, cfg, vclk, src, attr, brokers, topic, log); err != nil {
		t.Fatal(err)
	}
	if !attr.resumed || client.Stats().ListErrors == 0 {
		t.Fatalf("the kubelet outage did not happen: %+v", client.Stats())
	}

	// 6 whole GPUs with one workload each, the shared GPU with two, the MIG GPU's 3 instances and its remainder: one
	// record each per interval.
	wantRecords := int64((6 + 2 + 3 + 1) * int(runFor/interval))
	c := consumeUntil(t, st, brokers, topic, dlq, "e2e-attr", wantRecords, log)
	if got := c.Stats.Inserted.Load(); got != wantRecords {
		t.Fatalf("collector inserted %d records (consumed %d, dead-lettered %d), want %d (none lost across the kubelet outage)",
			got, c.Stats.Consumed.Load(), c.Stats.DeadLettered.Load(), wantRecords)
	}

	h := runFor.Seconds()
	type figures struct{ provisioned, allocated, busy float64 }
	want := map[string]figures{
		"inference": {0.75 * h, 0.75 * h, 0.75 * util * h},
		"dra":       {h, h, util * h},
		// The MIG instances' slices (1+2+3 of 7), busy from GPM; busy unknown (NULL) on the unpartitioned remainder.
		"ml": {6.0 / 7 * h, 6.0 / 7 * h, 6.0 / 7 * util * h},
		"":   {(3 + 1.0/7) * h, 0, 3 * util * h},
	}
	// A's 2 GPUs and C's quarter of the shared one: split between B and C by their processes' utilization.
	want["research"] = figures{2.25 * h, 2.25 * h, 2.25 * util * h}
	rows, err := st.Conn().Query(t.Context(), fmt.Sprintf(`SELECT team, sum(provisioned_seconds), sum(allocated_seconds),
		ifNull(sum(busy_seconds), 0) FROM %s.gpu_usage WHERE node = '%s' GROUP BY team`, db, nodeName))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var team string
		var got figures
		if err := rows.Scan(&team, &got.provisioned, &got.allocated, &got.busy); err != nil {
			t.Fatal(err)
		}
		seen++
		w, ok := want[team]
		if !ok {
			t.Errorf("unexpected team %q", team)
			continue
		}
		// Exact up to float rounding: a shared GPU's split (0.6/0.8 of each span) is not a binary fraction.
		if math.Abs(got.provisioned-w.provisioned) > 1e-6 || math.Abs(got.allocated-w.allocated) > 1e-6 {
			t.Errorf("team %q: provisioned %.9f allocated %.9f GPU-s, want %.3f and %.3f", team, got.provisioned, got.allocated, w.provisioned, w.allocated)
		}
		if rel := math.Abs(got.busy-w.busy) / max(w.busy, 1); rel > 0.005 {
			t.Errorf("team %q: busy %.1f GPU-s, want %.1f (off by %.3f%%)", team, got.busy, w.busy, 100*rel)
		}
		t.Logf("team %-10q provisioned %7.0f allocated %7.0f busy %7.1f GPU-s", team, got.provisioned, got.allocated, got.busy)
	}
	rows.Close()
	if seen != len(want) {
		t.Errorf("saw %d teams, want %d", seen, len(want))
	}

	// Per physical GPU (a MIG instance counts towards its parent): GPU-hours equal its provisioned time, however it
	// was shared or partitioned.
	rows, err = st.Conn().Query(t.Context(), fmt.Sprintf(`SELECT if(parent_gpu_uuid = '', gpu_uuid, parent_gpu_uuid) AS physical,
		sum(provisioned_seconds) FROM %s.gpu_usage WHERE node = '%s' GROUP BY physical`, db, nodeName))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var uuid string
		var prov float64
		if err := rows.Scan(&uuid, &prov); err != nil {
			t.Fatal(err)
		}
		n++
		if math.Abs(prov-h) > 1e-6 {
			t.Errorf("GPU %s: %.9f GPU-s, want %.0f (counted once)", uuid, prov, h)
		}
	}
	if n != 8 {
		t.Errorf("%d physical GPUs in gpu_usage, want 8", n)
	}
}
