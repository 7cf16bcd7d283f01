//go:build integration

package evaluate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/alert"
	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// activeAlerts asks the real Alertmanager which alerts for commitment id are active.
func activeAlerts(t *testing.T, base, id string) []amAlert {
	t.Helper()
	q := url.Values{"active": {"true"}, "silenced": {"false"}, "inhibited": {"false"}, "filter": {fmt.Sprintf("commitment=%q", id)}}
	resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitAlerts(t *testing.T, base, id string, want int) []amAlert {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := activeAlerts(t, base, id)
		if len(got) == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager lists %d active alerts for %s, want %d: %+v", len(got), id, want, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestShortfallFiresOnceAndResolvesOnRecovery(t *testing.T) {
	ctx := t.Context()
	amURL := testenv.AlertmanagerURL(t)
	st := teststore.Migrated(t)
	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)
	id := testenv.Name(t, "shortfall")
	c := commitment.Commitment{ID: id, Name: id, Provider: "azure", Kind: commitment.KindCapacity, Quantity: 4, Unit: "gpu",
		Team: "platform", Start: hour.Add(-10 * time.Hour), End: hour.Add(10 * time.Hour),
		// Only the projected-shortfall alert can fire in this scenario.
		Alerts: commitment.Thresholds{ProjectedShortfallPct: 5, MinUtilizationPct: 0, MaxLeakageGPUHours24h: 1e9}}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), []commitment.Commitment{c}); err != nil {
		t.Fatal(err)
	}
	use := func(gpus int, tag string) {
		t.Helper()
		var rows []store.Row
		for h := 1; h <= 10; h++ {
			start := hour.Add(-time.Duration(h) * time.Hour)
			for g := range gpus {
				rows = append(rows, store.Row{Record: schema.Record{Version: 1, Node: "n", Provider: "azure", Region: "eastus",
					InstanceType: "nd", GPUModel: "H100", GPUUUID: fmt.Sprintf("GPU-%s-%d", tag, g), IntervalStart: start,
					IntervalEnd: start.Add(time.Hour), WindowStart: start, WindowEnd: start.Add(time.Hour), ProvisionedSeconds: 3600}})
			}
		}
		if err := st.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	use(1, "first") // 1 of 4 GPUs for 10 hours: at that pace 20 of 80 GPU-hours by term end

	notifier := alert.NewNotifier(&alert.Client{URLs: []string{amURL}, Log: testenv.Logger(t)}, time.Minute, testenv.Logger(t))
	ev := New(st.Conn(), st.Database(), notifier, testenv.Logger(t))
	ev.now = func() time.Time { return now }
	for range 2 { // evaluating twice must not duplicate the alert
		if err := ev.Evaluate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := waitAlerts(t, amURL, id, 1)[0]
	wantLabels := map[string]string{"alertname": AlertProjectedShortfall, "commitment": id, "provider": "azure",
		"team": "platform", "kind": "capacity", "severity": "warning"}
	for k, v := range wantLabels {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	// committed 80 GPU-h over the term, used 10, trailing rate 1/h for 10 more hours: 60 short.
	if got.Annotations["projected_shortfall_7d"] != "60.00" || got.Annotations["used_to_date"] != "10.00" {
		t.Errorf("annotations %v, want projected_shortfall_7d 60.00 and used_to_date 10.00", got.Annotations)
	}

	use(4, "recovered") // late data: all four GPUs were busy after all
	if err := ev.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	waitAlerts(t, amURL, id, 0)
}

func TestUnreachableAlertmanagerIsAnErrorNotAStop(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	hour := time.Now().UTC().Truncate(time.Hour)
	c := commitment.Commitment{ID: "dead-am", Name: "x", Provider: "azure", Kind: commitment.KindCapacity, Quantity: 4,
		Unit: "gpu", Start: hour.Add(-2 * time.Hour), End: hour.Add(2 * time.Hour), Alerts: commitment.DefaultThresholds}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), []commitment.Commitment{c}); err != nil {
		t.Fatal(err)
	}
	notifier := alert.NewNotifier(&alert.Client{URLs: []string{"http://127.0.0.1:1"}, Log: testenv.Logger(t)}, 2*time.Second, testenv.Logger(t))
	ev := New(st.Conn(), st.Database(), notifier, testenv.Logger(t))
	start := time.Now()
	if err := ev.Evaluate(ctx); err == nil {
		t.Fatal("evaluation against a dead Alertmanager reported success")
	}
	t.Logf("gave up after %s", time.Since(start))
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.latest) != 1 {
		t.Errorf("figures not kept for the metrics when alerting failed: %d", len(ev.latest))
	}
}

// An alert that fired while the term ran is resolved once the term has ended (issue 10, section 3). The evaluations
// run at the real now (Alertmanager drops alerts that ended in the past), so the term is moved into the past
// between them, as a corrected commitments file would.
func TestAlertsResolveWhenTheTermEnds(t *testing.T) {
	ctx := t.Context()
	amURL := testenv.AlertmanagerURL(t)
	st := teststore.Migrated(t)
	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)
	id := testenv.Name(t, "ended")
	start := hour.Add(-10 * time.Hour)
	c := commitment.Commitment{ID: id, Name: id, Provider: "azure", Kind: commitment.KindCapacity, Quantity: 4, Unit: "gpu",
		Start: start, End: hour.Add(10 * time.Hour),
		Alerts: commitment.Thresholds{ProjectedShortfallPct: 5, MinUtilizationPct: 0, MaxLeakageGPUHours24h: 1e9}}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), []commitment.Commitment{c}); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, []store.Row{{Record: schema.Record{Version: 1, Node: "n", Provider: "azure", Region: "eastus",
		InstanceType: "nd", GPUModel: "H100", GPUUUID: "GPU-0", IntervalStart: start, IntervalEnd: start.Add(time.Hour),
		WindowStart: start, WindowEnd: start.Add(time.Hour), ProvisionedSeconds: 3600}}}); err != nil {
		t.Fatal(err)
	}
	notifier := alert.NewNotifier(&alert.Client{URLs: []string{amURL}, Log: testenv.Logger(t)}, time.Minute, testenv.Logger(t))
	ev := New(st.Conn(), st.Database(), notifier, testenv.Logger(t))
	ev.now = func() time.Time { return now }
	if err := ev.Evaluate(ctx); err != nil { // 1 of 40 GPU-h used, 40 more hours at that pace: short
		t.Fatal(err)
	}
	waitAlerts(t, amURL, id, 1)
	c.End = hour.Add(-2 * time.Hour)
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), []commitment.Commitment{c}); err != nil {
		t.Fatal(err)
	}
	if err := ev.Evaluate(ctx); err != nil { // the term ended two hours ago: still short, but nothing to act on
		t.Fatal(err)
	}
	waitAlerts(t, amURL, id, 0)
	ev.mu.Lock()
	statuses := ev.latest
	ev.mu.Unlock()
	if len(statuses) != 1 || statuses[0].HoursLeft != 0 || statuses[0].ProjectedShortfall7d == 0 {
		t.Errorf("final figures %+v, want the ended commitment's shortfall kept", statuses)
	}
}
