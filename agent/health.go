package agent

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// health is what Ready reports on: the latest outcome of each kind of work, written by the loops and read by /readyz.
type health struct {
	mu sync.Mutex
	// sampling
	lastSample  time.Time // wall time of the last loop iteration that read at least one GPU
	lastReadErr error     // set while the last read failed for some GPU
	noGPU       bool      // the last read returned no sample at all
	// sending
	sendErr    error // the last send's error; nil after a success
	sendKind   string
	sendErrors map[string]int64 // failed sends by kind, for the metrics
	// disk
	spoolErr error
	ckptErr  error
}

func (h *health) sampled(n int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n > 0 {
		h.lastSample = time.Now()
	}
	h.noGPU = n == 0
	h.lastReadErr = err
}

func (h *health) sent(kind string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendErr, h.sendKind = err, kind
	if err != nil {
		h.sendErrors[kind]++
	}
}

func (h *health) spooled(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.spoolErr = err
}

func (h *health) checkpointed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ckptErr = err
}

// SendErrorsByKind returns the failed sends by kind ("authentication", "unreachable", "other", ...).
func (a *Agent) SendErrorsByKind() map[string]int64 {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	out := make(map[string]int64, len(a.health.sendErrors))
	for k, v := range a.health.sendErrors {
		out[k] = v
	}
	return out
}

func (h *health) problems(now time.Time, stall time.Duration) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	switch {
	case h.lastSample.IsZero() && h.noGPU && h.lastReadErr != nil:
		out = append(out, fmt.Sprintf("no GPU could be read: %v", h.lastReadErr))
	case h.lastSample.IsZero():
		// Not sampled yet: starting (the first sample comes within a period).
	case now.Sub(h.lastSample) > stall:
		reason := "no sample"
		if h.lastReadErr != nil {
			reason = fmt.Sprintf("no GPU could be read (%v)", h.lastReadErr)
		}
		out = append(out, fmt.Sprintf("sampling stalled: %s for %s", reason, now.Sub(h.lastSample).Round(time.Second)))
	}
	if h.sendErr != nil {
		what := "sending to Kafka fails"
		if h.sendKind == "authentication" {
			what = "Kafka refuses the agent's credentials (check the SASL user and password)"
		}
		out = append(out, fmt.Sprintf("%s: %v", what, oneLine(h.sendErr.Error())))
	}
	if h.spoolErr != nil {
		out = append(out, fmt.Sprintf("spool cannot take records: %v", h.spoolErr))
	}
	if h.ckptErr != nil {
		out = append(out, fmt.Sprintf("checkpoint cannot be written: %v", h.ckptErr))
	}
	return out
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// rateLimited lets a repeating warning through at most once per period, counting what it held back. The zero value
// with every set is ready; only one goroutine uses each.
type rateLimited struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many occurrences were held back since the last line.
func (r *rateLimited) allow() (int, bool) {
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		return 0, false
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return n, true
}

func float64frombits(b uint64) float64 { return math.Float64frombits(b) }

func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
