//go:build integration

package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/testenv"
)

// ---------------------------------------------------------------------------------------------
// Against the real Alertmanager that deploy/local/services.sh starts.

const amHint = "start it with `deploy/local/services.sh start` (or `start alertmanager`; make test does it for you)"

// amURL is the test Alertmanager's base URL: GPUMETER_TEST_ALERTMANAGER, or the local stack's default.
// An Alertmanager that is not ready fails the test: it never skips.
func amURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GPUMETER_TEST_ALERTMANAGER")
	if u == "" {
		u = "http://127.0.0.1:19094"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u, "/")+"/-/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
	}
	if err != nil {
		t.Fatalf("Alertmanager is not ready at %s (GPUMETER_TEST_ALERTMANAGER=%q): %v; %s", u,
			os.Getenv("GPUMETER_TEST_ALERTMANAGER"), err, amHint)
	}
	return u
}

// gettable is what GET /api/v2/alerts returns per alert (the fields the tests look at).
type gettable struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// listActive lists the active alerts whose commitment label is commitment.
func listActive(t *testing.T, base, commitment string) []gettable {
	t.Helper()
	q := url.Values{"active": {"true"}, "filter": {`commitment="` + commitment + `"`}}
	resp, err := http.Get(strings.TrimRight(base, "/") + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s: %s", resp.Status, b)
	}
	var out []gettable
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return out
}

// waitActive polls until cond holds for commitment's active alerts (Alertmanager applies a POST
// at once, but give it a moment) and returns them.
func waitActive(t *testing.T, base, commitment, what string, cond func([]gettable) bool) []gettable {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := listActive(t, base, commitment)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("commitment %s: %s: still %+v after 10s", commitment, what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func count(n int) func([]gettable) bool { return func(g []gettable) bool { return len(g) == n } }

func near(a, b time.Time) bool { d := a.Sub(b); return d > -time.Millisecond && d < time.Millisecond }

func TestRealFireRefireResolve(t *testing.T) {
	t.Parallel()
	base := amURL(t)
	commitment := testenv.Name(t, "c")
	ttl := time.Minute
	n := NewNotifier(&Client{URLs: []string{base}, Log: testenv.Logger(t)}, ttl, nil)
	short := Alert{Name: "GPUCommitmentProjectedShortfall",
		Labels:      map[string]string{"commitment": commitment, "provider": "azure", "team": "ml", "severity": "warning"},
		Annotations: map[string]string{"summary": "projected shortfall of 1200 GPU-hours", "projected_shortfall_gpu_hours": "1200"}}

	t0 := time.Now()
	if err := n.Update(t.Context(), []Alert{short}, t0); err != nil {
		t.Fatal(err)
	}
	got := waitActive(t, base, commitment, "want one active alert", count(1))
	g := got[0]
	wantLabels := map[string]string{"alertname": short.Name, "commitment": commitment, "provider": "azure", "team": "ml", "severity": "warning"}
	if !maps.Equal(g.Labels, wantLabels) || !maps.Equal(g.Annotations, short.Annotations) {
		t.Fatalf("alert %+v\nwant labels %v annotations %v", g, wantLabels, short.Annotations)
	}
	if !near(g.StartsAt, t0) || !near(g.EndsAt, t0.Add(3*ttl)) || g.Status.State == "suppressed" {
		t.Fatalf("alert %+v: want startsAt %v, endsAt %v, not suppressed", g, t0, t0.Add(3*ttl))
	}

	// The next evaluation posts it again (new figures): still exactly one alert, same start, later end.
	short.Annotations = map[string]string{"summary": "projected shortfall of 1100 GPU-hours", "projected_shortfall_gpu_hours": "1100"}
	t1 := time.Now()
	if err := n.Update(t.Context(), []Alert{short}, t1); err != nil {
		t.Fatal(err)
	}
	got = waitActive(t, base, commitment, "want the updated alert", func(g []gettable) bool {
		return len(g) >= 1 && g[0].Annotations["projected_shortfall_gpu_hours"] == "1100"
	})
	if len(got) != 1 || got[0].Fingerprint != g.Fingerprint || !near(got[0].StartsAt, t0) || !near(got[0].EndsAt, t1.Add(3*ttl)) {
		t.Fatalf("after the second Update: %+v (first was %+v)", got, g)
	}

	// A second alert on the same commitment; then only it stays active: the first is resolved.
	under := Alert{Name: "GPUCommitmentUnderused", Labels: map[string]string{"commitment": commitment, "severity": "info"}}
	if err := n.Update(t.Context(), []Alert{short, under}, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want two alerts", count(2))
	if err := n.Update(t.Context(), []Alert{under}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got = waitActive(t, base, commitment, "want the shortfall resolved", count(1))
	if got[0].Labels["alertname"] != under.Name {
		t.Fatalf("still active: %+v", got)
	}

	// Nothing active: everything resolved.
	if err := n.Update(t.Context(), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want no active alert", count(0))
}

func TestRealUnreachableThenResolve(t *testing.T) {
	t.Parallel()
	base := amURL(t)
	commitment := testenv.Name(t, "c")
	c := &Client{URLs: []string{base}, Log: testenv.Logger(t)}
	n := NewNotifier(c, time.Minute, nil)
	a := Alert{Name: "GPUCommitmentProjectedShortfall", Labels: map[string]string{"commitment": commitment}}
	if err := n.Update(t.Context(), []Alert{a}, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want one active alert", count(1))

	// Alertmanager unreachable while the alert stops: Update fails within its deadline...
	c.URLs = []string{"http://127.0.0.1:1"}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	start := time.Now()
	err := n.Update(ctx, nil, time.Now())
	cancel()
	if err == nil {
		t.Fatal("Update against 127.0.0.1:1 succeeded")
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("Update took %v with a 2s deadline", d)
	}
	t.Logf("unreachable: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if got := listActive(t, base, commitment); len(got) != 1 {
		t.Fatalf("alert changed while Alertmanager was unreachable: %+v", got)
	}

	// ...and the next Update, against the real one again, resolves it.
	c.URLs = []string{base}
	if err := n.Update(t.Context(), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want the alert resolved", count(0))
}

func TestRealUnreachableFirstThenFire(t *testing.T) {
	t.Parallel()
	base := amURL(t)
	commitment := testenv.Name(t, "c")
	c := &Client{URLs: []string{"http://127.0.0.1:1"}, Log: testenv.Logger(t)}
	n := NewNotifier(c, time.Minute, nil)
	a := Alert{Name: "GPUCommitmentProjectedShortfall", Labels: map[string]string{"commitment": commitment}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	start := time.Now()
	err := n.Update(ctx, []Alert{a}, start)
	cancel()
	if err == nil || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("Update against 127.0.0.1:1: err %v after %v", err, time.Since(start))
	}
	c.URLs = []string{base}
	if err := n.Update(t.Context(), []Alert{a}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := waitActive(t, base, commitment, "want one active alert", count(1))
	if !near(got[0].StartsAt, start) {
		t.Fatalf("startsAt %v, want the first evaluation's %v", got[0].StartsAt, start)
	}
	if err := n.Update(t.Context(), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want the alert resolved", count(0))
}

func TestRealClientPost(t *testing.T) {
	t.Parallel()
	base := amURL(t)
	commitment := testenv.Name(t, "c")
	c := &Client{URLs: []string{base}, Log: testenv.Logger(t)}
	a := Alert{Name: "GPUCommitmentProjectedShortfall", Labels: map[string]string{"commitment": commitment},
		Annotations: map[string]string{"summary": "s"}}
	if err := c.Post(t.Context(), []Alert{a}, nil, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want one active alert", count(1))
	if err := c.Post(t.Context(), nil, []Alert{a}, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitActive(t, base, commitment, "want the alert resolved", count(0))

	// Alertmanager's own validation: an alert that ends before it starts is refused with a 400.
	bad := []postable{{Labels: map[string]string{"alertname": "X", "commitment": commitment},
		StartsAt: time.Now(), EndsAt: time.Now().Add(-time.Hour)}}
	var se *StatusError
	if err := c.post(t.Context(), bad); !errors.As(err, &se) || se.Code != http.StatusBadRequest || !permanent(err) {
		t.Fatalf("err = %v, want a 400", err)
	}
}
