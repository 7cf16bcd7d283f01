package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/testenv"
)

// ---------------------------------------------------------------------------------------------
// Unit tests against httptest servers: the JSON that goes out, retries, deadlines.

// recorder is a fake Alertmanager that keeps every POST body.
type recorder struct {
	mu     sync.Mutex
	bodies [][]map[string]any
	paths  []string
	ctypes []string
	status func(n int) int // status for the n-th request (1-based); nil: 200
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	var body []map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.paths = append(r.paths, req.Method+" "+req.URL.Path)
	r.ctypes = append(r.ctypes, req.Header.Get("Content-Type"))
	n := len(r.bodies)
	r.mu.Unlock()
	code := http.StatusOK
	if r.status != nil {
		code = r.status(n)
	}
	w.WriteHeader(code)
	if code != http.StatusOK {
		_, _ = io.WriteString(w, `"nope"`)
	}
}

func (r *recorder) requests() [][]map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]map[string]any(nil), r.bodies...)
}

func fakeAM(t *testing.T, status func(n int) int) (*recorder, *Client) {
	t.Helper()
	rec := &recorder{status: status}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, &Client{URLs: []string{srv.URL}, HTTP: srv.Client(), Log: testenv.Logger(t)}
}

func ts(tm time.Time) string { return tm.UTC().Format(time.RFC3339Nano) }

func TestPostJSONShape(t *testing.T) {
	rec, c := fakeAM(t, nil)
	c.URLs[0] += "/" // a trailing slash is fine
	c.GeneratorURL = "http://collector/commitments"
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	firing := Alert{Name: "GPUCommitmentProjectedShortfall",
		Labels:      map[string]string{"commitment": "azure-h100-1y", "provider": "azure", "team": "", "severity": "warning"},
		Annotations: map[string]string{"summary": "projected shortfall 1200 GPU-hours", "shortfall_gpu_hours": "1200"}}
	resolved := Alert{Name: "GPUCommitmentUnderused", Labels: map[string]string{"commitment": "oci-a100", "alertname": "ignored"}}
	if err := c.Post(t.Context(), []Alert{firing}, []Alert{resolved}, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || rec.paths[0] != "POST /api/v2/alerts" || rec.ctypes[0] != "application/json" {
		t.Fatalf("requests %v %v %v", len(reqs), rec.paths, rec.ctypes)
	}
	got, _ := json.Marshal(reqs[0])
	want, _ := json.Marshal([]map[string]any{
		{
			"labels": map[string]any{"alertname": "GPUCommitmentProjectedShortfall", "commitment": "azure-h100-1y",
				"provider": "azure", "severity": "warning"}, // the empty team label is left out
			"annotations":  map[string]any{"summary": "projected shortfall 1200 GPU-hours", "shortfall_gpu_hours": "1200"},
			"startsAt":     "2026-11-25T11:00:00Z",
			"endsAt":       "2026-11-25T11:03:00Z", // now + 3×ttl
			"generatorURL": "http://collector/commitments",
		},
		{
			"labels":       map[string]any{"alertname": "GPUCommitmentUnderused", "commitment": "oci-a100"},
			"startsAt":     "2026-11-25T11:00:00Z",
			"endsAt":       "2026-11-25T11:00:00Z", // resolved: endsAt = now
			"generatorURL": "http://collector/commitments",
		},
	})
	if string(got) != string(want) {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}

	// An invalid label name is reported; the other alerts still go out.
	bad := Alert{Name: "X", Labels: map[string]string{"bad-name": "v"}}
	err := c.Post(t.Context(), []Alert{bad, firing}, nil, now, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "bad-name") {
		t.Fatalf("err = %v, want invalid label name", err)
	}
	if reqs := rec.requests(); len(reqs) != 2 || len(reqs[1]) != 1 {
		t.Fatalf("second request: %v", reqs)
	}
	// Nothing to send: no request.
	if err := c.Post(t.Context(), nil, nil, now, time.Minute); err != nil || len(rec.requests()) != 2 {
		t.Fatalf("empty post: %v, %d requests", err, len(rec.requests()))
	}
}

func TestNotifierJSONAcrossUpdates(t *testing.T) {
	rec, c := fakeAM(t, nil)
	ttl := time.Minute
	n := NewNotifier(c, ttl, nil)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	a := Alert{Name: "A", Labels: map[string]string{"commitment": "c1"}, Annotations: map[string]string{"v": "1"}}
	b := Alert{Name: "B", Labels: map[string]string{"commitment": "c1"}}
	a2 := a
	a2.Annotations = map[string]string{"v": "2"}

	steps := []struct {
		at     time.Time
		active []Alert
		want   []string // "alertname startsAt endsAt annotations.v", in the order sent
	}{
		{t0, []Alert{a, b, a}, []string{"A " + ts(t0) + " " + ts(t0.Add(3*ttl)) + " 1", "B " + ts(t0) + " " + ts(t0.Add(3*ttl)) + " "}},
		// Still active: startsAt stays, endsAt moves, new annotations go out.
		{t0.Add(ttl), []Alert{a2, b}, []string{"A " + ts(t0) + " " + ts(t0.Add(4*ttl)) + " 2", "B " + ts(t0) + " " + ts(t0.Add(4*ttl)) + " "}},
		// B stops: resolved with endsAt = now.
		{t0.Add(2 * ttl), []Alert{a2}, []string{"A " + ts(t0) + " " + ts(t0.Add(5*ttl)) + " 2", "B " + ts(t0) + " " + ts(t0.Add(2*ttl)) + " "}},
		// A stops.
		{t0.Add(3 * ttl), nil, []string{"A " + ts(t0) + " " + ts(t0.Add(3*ttl)) + " 2"}},
		// Nothing active, nothing to resolve: no request.
		{t0.Add(4 * ttl), nil, nil},
		// B again: a new startsAt.
		{t0.Add(5 * ttl), []Alert{b}, []string{"B " + ts(t0.Add(5*ttl)) + " " + ts(t0.Add(8*ttl)) + " "}},
	}
	sent := 0
	for i, s := range steps {
		if err := n.Update(t.Context(), s.active, s.at); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		reqs := rec.requests()
		if s.want == nil {
			if len(reqs) != sent {
				t.Fatalf("step %d: a request was sent: %v", i, reqs[len(reqs)-1])
			}
			continue
		}
		if len(reqs) != sent+1 {
			t.Fatalf("step %d: %d requests, want %d", i, len(reqs), sent+1)
		}
		sent++
		var got []string
		for _, p := range reqs[sent-1] {
			ann, _ := p["annotations"].(map[string]any)
			v, _ := ann["v"].(string)
			got = append(got, p["labels"].(map[string]any)["alertname"].(string)+" "+p["startsAt"].(string)+" "+
				p["endsAt"].(string)+" "+v)
		}
		if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Fatalf("step %d:\n got %q\nwant %q", i, got, s.want)
		}
	}
}

func TestNotifierRetries(t *testing.T) {
	// 503 twice, then 200: one Update succeeds after three requests.
	rec, c := fakeAM(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	n := NewNotifier(c, time.Minute, nil)
	n.minBackoff = 10 * time.Millisecond
	a := Alert{Name: "A", Labels: map[string]string{"commitment": "c"}}
	if err := n.Update(t.Context(), []Alert{a}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.requests()); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}

	// 400 (Alertmanager rejected the alerts): no retry, the error says why.
	rec, c = fakeAM(t, func(int) int { return http.StatusBadRequest })
	n = NewNotifier(c, time.Minute, nil)
	n.minBackoff = 10 * time.Millisecond
	err := n.Update(t.Context(), []Alert{a}, time.Now())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v, want a 400 StatusError", err)
	}
	if got := len(rec.requests()); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

func TestNotifierResolveRetriedAfterFailure(t *testing.T) {
	var down atomic.Bool
	rec, c := fakeAM(t, func(int) int {
		if down.Load() {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	ttl := time.Minute
	n := NewNotifier(c, ttl, nil)
	n.minBackoff, n.maxAttempts = time.Millisecond, 2
	t0 := time.Now()
	a := Alert{Name: "A", Labels: map[string]string{"commitment": "c"}}
	b := Alert{Name: "B", Labels: map[string]string{"commitment": "c"}}
	if err := n.Update(t.Context(), []Alert{a, b}, t0); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	if err := n.Update(t.Context(), []Alert{b}, t0.Add(ttl)); err == nil {
		t.Fatal("Update succeeded against a failing Alertmanager")
	}
	down.Store(false)
	// A's resolve failed: the next Update sends it again, beside the firing B.
	if err := n.Update(t.Context(), []Alert{b}, t0.Add(2*ttl)); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	last := reqs[len(reqs)-1]
	if len(last) != 2 || last[0]["labels"].(map[string]any)["alertname"] != "B" ||
		last[1]["labels"].(map[string]any)["alertname"] != "A" || last[1]["endsAt"] != ts(t0.Add(2*ttl)) {
		t.Fatalf("last request %v", last)
	}
	// Acknowledged: not sent again.
	if err := n.Update(t.Context(), []Alert{b}, t0.Add(3*ttl)); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.requests(); len(reqs[len(reqs)-1]) != 1 {
		t.Fatalf("resolve sent again: %v", reqs[len(reqs)-1])
	}

	// A resolve that keeps failing is given up once Alertmanager has expired the alert anyway
	// (3×ttl after the last endsAt that was sent).
	down.Store(true)
	_ = n.Update(t.Context(), nil, t0.Add(4*ttl)) // resolving B fails; B's endsAt was t0+6ttl
	down.Store(false)
	before := len(rec.requests())
	if err := n.Update(t.Context(), nil, t0.Add(6*ttl)); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.requests()); got != before {
		t.Fatalf("an expired alert was resolved again: %v", rec.requests()[got-1])
	}
}

func TestNotifierRespectsDeadline(t *testing.T) {
	// An Alertmanager that never answers: Update returns when ctx ends.
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a gone client only once the body is read
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: Close waits for the handler
	n := NewNotifier(&Client{URLs: []string{srv.URL}, Log: testenv.Logger(t)}, time.Hour, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := n.Update(ctx, []Alert{{Name: "A"}}, time.Now())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Update took %v with a 300ms deadline", d)
	}
}

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
