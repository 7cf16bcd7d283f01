package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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
