//go:build integration

package evaluate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/alert"
	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/telemetry"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

type recorder struct{ names []string }

func (r *recorder) Update(_ context.Context, active []alert.Alert, _ time.Time) error {
	for _, a := range active {
		r.names = append(r.names, a.Name+"/"+a.Labels["provider"])
	}
	return nil
}

// OCI runs 2 GPUs for 4 hours beside a fully used 1-GPU Azure reservation, and the only request to Azure was
// accepted: 8 uncovered GPU-hours in the last 24 h fire GPUCommitmentROFRExposure and are exported in GPU-seconds.
func TestROFRExposureAlertAndMetrics(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)
	capID := testenv.Name(t, "cap")
	cs := []commitment.Commitment{{ID: capID, Name: capID, Provider: "azure", Kind: commitment.KindCapacity, Quantity: 1,
		Unit: "gpu", Start: hour.Add(-4 * time.Hour), End: hour.Add(20 * time.Hour)}}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), cs); err != nil {
		t.Fatal(err)
	}
	prim := commitment.Primary{Provider: "azure", Commitments: []string{capID}, MaxUncoveredGPUHours24h: 4}
	reqs := []commitment.Request{{ID: "asked", AskedAt: hour.Add(-48 * time.Hour), GPUs: 2, GPUModel: "H100",
		Start: hour.Add(-4 * time.Hour), End: hour, Status: commitment.AnswerAccepted, AnsweredAt: hour.Add(-47 * time.Hour),
		AcceptedGPUs: 2}}
	if err := commitment.SyncRequests(ctx, st.Conn(), st.Database(), prim, reqs); err != nil {
		t.Fatal(err)
	}
	var rows []store.Row
	for h := 1; h <= 4; h++ {
		start := hour.Add(-time.Duration(h) * time.Hour)
		for i, p := range []string{"azure", "oracle_cloud", "oracle_cloud"} {
			rows = append(rows, store.Row{Record: schema.Record{Version: 1, Node: "n-" + p, Provider: p, Region: "r",
				InstanceType: "it", GPUModel: "H100", GPUUUID: fmt.Sprintf("GPU-%s-%d-%d", p, h, i),
				IntervalStart: start, IntervalEnd: start.Add(time.Hour), WindowStart: start, WindowEnd: start.Add(time.Hour),
				ProvisionedSeconds: 3600, BusySeconds: schema.Float(1800)}})
		}
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ev := New(st.Conn(), st.Database(), rec, testenv.Logger(t))
	ev.now = func() time.Time { return now }
	if err := ev.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rec.names, " ") != AlertROFRExposure+"/oracle_cloud" {
		t.Errorf("active alerts %v, want %s for oracle_cloud only", rec.names, AlertROFRExposure)
	}
	b := scrapeMetrics(t, ev)
	want := map[string]string{
		"gpumeter_rofr_uncovered_24h_gpu_time_seconds": "28800",
		"gpumeter_rofr_uncovered_gpu_time_seconds":     "28800",
		"gpumeter_rofr_covered_gpu_time_seconds":       "0",
		"gpumeter_rofr_leakage_gpu_time_seconds":       "0",
	}
	for _, l := range strings.Split(b, "\n") {
		name, _, _ := strings.Cut(l, "{")
		if v, ok := want[name]; ok && strings.Contains(l, `primary="azure"`) && strings.Contains(l, `provider="oracle_cloud"`) && strings.HasSuffix(l, " "+v) {
			delete(want, name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing %v in:\n%s", want, b)
	}
}

// scrapeMetrics registers ev's metrics on a fresh exporter and returns what /metrics serves.
func scrapeMetrics(t *testing.T, ev *Evaluator) string {
	t.Helper()
	tel, err := telemetry.Start(t.Context(), telemetry.Config{Service: "gpumeter-test", MetricsAddr: "127.0.0.1:0"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	if err := ev.RegisterMetrics(tel.Meter("test")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + tel.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
