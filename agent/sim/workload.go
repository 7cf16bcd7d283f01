package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Workload scripts a GPU's utilization over (virtual) time. Utilization is a
// fraction in [0,1], the share of time a kernel ran, as NVML defines it.
// Implementations must be safe for concurrent use: every simulated device
// reads its workload from the agent's goroutines.
type Workload interface {
	Utilization(gpu int, t time.Time) float64
}

// Integrator is implemented by workloads that can integrate their own
// utilization exactly. BusySeconds returns ∫ Utilization(gpu, t) dt over
// [from, to) in seconds (0 when to is not after from). The simulator's energy
// counter uses it so that the counter is the exact integral of the power
// curve, however often or rarely it is read; tests use it as the expected
// busy_seconds. Every workload returned by ParseWorkload implements it.
type Integrator interface {
	BusySeconds(gpu int, from, to time.Time) float64
}

// levelResolution quantizes parsed utilization levels to 0.01 %. With the
// power ranges in this package (a multiple of 10 W) every quantized level maps
// to a whole number of milliwatts, so a piecewise-constant workload's energy
// delta is exactly the reported power × dt rather than off by the rounding of
// the milliwatt reading.
const levelResolution = 1e4

// ParseWorkload parses a --sim-util value:
//
//	"0.7" or "constant:0.7"                                  every GPU at 70 %
//	"idle"                                                   every GPU at 0
//	"steps:0.9,0.9,0.5,0.5,0.1,0.1,0,0"                      GPU i at entry i mod len
//	"diurnal:low=0.2,high=0.9,peak=15h"                      cosine day curve (UTC), maximum at peak
//	"bursty:base=0.1,burst=0.95,duty=0.3,period=2h,seed=7"   per-GPU random bursts
//
// diurnal keys default to low=0, high=1, peak=14h; peak is a duration into
// the UTC day ("15h", "9h30m") or a bare number of hours. bursty keys default
// to base=0.1, burst=0.95, duty=0.3, period=1h, seed=1; slots are aligned to
// multiples of period since the Unix epoch (like reporting intervals), and
// whether slot k of GPU g bursts is a hash of (seed, g, k) compared with duty,
// so the same spec gives the same curve on every run and node.
// Levels are rounded to 0.01 %. Errors name the spec and the bad part.
func ParseWorkload(spec string) (Workload, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("sim workload %q: "+format, append([]any{spec}, args...)...)
	}
	s := strings.TrimSpace(spec)
	rawKind, params, hasParams := strings.Cut(s, ":")
	rawKind = strings.TrimSpace(rawKind)
	kind := strings.ToLower(rawKind)
	params = strings.TrimSpace(params)
	switch kind {
	case "":
		return nil, fail("empty spec (want a utilization such as 0.7, or constant:, steps:, diurnal:, bursty:, idle)")
	case "idle":
		if hasParams {
			return nil, fail("idle takes no parameters")
		}
		return constant{}, nil
	case "constant":
		u, err := parseLevel("utilization", params)
		if err != nil {
			return nil, fail("%v", err)
		}
		return constant{u: u}, nil
	case "steps":
		if params == "" {
			return nil, fail("steps needs at least one utilization")
		}
		var st steps
		for i, p := range strings.Split(params, ",") {
			u, err := parseLevel(fmt.Sprintf("step %d", i), strings.TrimSpace(p))
			if err != nil {
				return nil, fail("%v", err)
			}
			st = append(st, u)
		}
		return st, nil
	case "diurnal":
		kv, err := parseParams(params, "low", "high", "peak")
		if err != nil {
			return nil, fail("%v", err)
		}
		d := diurnal{low: 0, high: 1, peak: 14 * time.Hour}
		if err := kv.level("low", &d.low); err != nil {
			return nil, fail("%v", err)
		}
		if err := kv.level("high", &d.high); err != nil {
			return nil, fail("%v", err)
		}
		if d.low > d.high {
			return nil, fail("low (%g) must not exceed high (%g)", d.low, d.high)
		}
		if v, ok := kv["peak"]; ok {
			p, err := parsePeak(v)
			if err != nil {
				return nil, fail("%v", err)
			}
			d.peak = p
		}
		return d, nil
	case "bursty":
		kv, err := parseParams(params, "base", "burst", "duty", "period", "seed")
		if err != nil {
			return nil, fail("%v", err)
		}
		b := bursty{base: 0.1, burst: 0.95, duty: 0.3, period: time.Hour, seed: 1}
		for _, f := range []struct {
			key string
			dst *float64
		}{{"base", &b.base}, {"burst", &b.burst}, {"duty", &b.duty}} {
			if err := kv.level(f.key, f.dst); err != nil {
				return nil, fail("%v", err)
			}
		}
		if v, ok := kv["period"]; ok {
			p, err := time.ParseDuration(v)
			if err != nil {
				return nil, fail("period: %q is not a duration such as 2h or 15m", v)
			}
			// Below a second, slots get shorter than NVML's own sampling
			// window and the per-slot integration loop gets long.
			if p < time.Second {
				return nil, fail("period must be at least 1s")
			}
			b.period = p
		}
		if v, ok := kv["seed"]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fail("seed: %q is not an integer", v)
			}
			b.seed = uint64(n)
		}
		return b, nil
	}
	if !hasParams {
		if _, err := strconv.ParseFloat(rawKind, 64); err == nil {
			u, err := parseLevel("utilization", rawKind)
			if err != nil {
				return nil, fail("%v", err)
			}
			return constant{u: u}, nil
		}
	}
	return nil, fail("unknown kind %q (want a utilization such as 0.7, or constant:, steps:, diurnal:, bursty:, idle)", rawKind)
}

// parseLevel parses a utilization fraction in [0,1] and quantizes it.
func parseLevel(name, v string) (float64, error) {
	if v == "" {
		return 0, fmt.Errorf("%s is missing", name)
	}
	u, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(u) {
		return 0, fmt.Errorf("%s: %q is not a number", name, v)
	}
	if u < 0 || u > 1 {
		return 0, fmt.Errorf("%s must be in [0,1]", name)
	}
	return math.Round(u*levelResolution) / levelResolution, nil
}

// parsePeak accepts a duration into the day or a bare number of hours.
func parsePeak(v string) (time.Duration, error) {
	p, err := time.ParseDuration(v)
	if err != nil {
		h, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(h) || math.IsInf(h, 0) {
			return 0, fmt.Errorf("peak: %q is not an hour such as 15h or 9h30m", v)
		}
		p = time.Duration(h * float64(time.Hour))
	}
	if p < 0 || p >= 24*time.Hour {
		return 0, fmt.Errorf("peak must be an hour of the day in [0h,24h)")
	}
	return p, nil
}

type params map[string]string

// parseParams splits "k=v,k=v", rejecting unknown, repeated and empty keys so
// that a typo never silently falls back to a default.
func parseParams(s string, allowed ...string) (params, error) {
	kv := params{}
	if s == "" {
		return kv, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not key=value", part)
		}
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			return nil, fmt.Errorf("unknown key %q (want %s)", k, strings.Join(allowed, ", "))
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("key %q given twice", k)
		}
		kv[k] = v
	}
	return kv, nil
}

// level overwrites *dst with the key's level when the key is present.
func (kv params) level(key string, dst *float64) error {
	v, ok := kv[key]
	if !ok {
		return nil
	}
	u, err := parseLevel(key, v)
	if err != nil {
		return err
	}
	*dst = u
	return nil
}

// seconds is the length of [from, to) in seconds, 0 when empty.
func seconds(from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	return to.Sub(from).Seconds()
}

// constant runs every GPU at the same level.
type constant struct{ u float64 }

func (c constant) Utilization(int, time.Time) float64 { return c.u }
func (c constant) BusySeconds(_ int, from, to time.Time) float64 {
	return c.u * seconds(from, to)
}
func (c constant) String() string {
	if c.u == 0 {
		return "idle"
	}
	return "constant:" + strconv.FormatFloat(c.u, 'g', -1, 64)
}

// steps gives GPU i the constant level steps[i mod len]: a machine with a mix
// of busy and idle GPUs.
type steps []float64

func (s steps) at(gpu int) float64 {
	n := len(s)
	return s[((gpu%n)+n)%n]
}
func (s steps) Utilization(gpu int, _ time.Time) float64 { return s.at(gpu) }
func (s steps) BusySeconds(gpu int, from, to time.Time) float64 {
	return s.at(gpu) * seconds(from, to)
}
func (s steps) String() string {
	parts := make([]string, len(s))
	for i, u := range s {
		parts[i] = strconv.FormatFloat(u, 'g', -1, 64)
	}
	return "steps:" + strings.Join(parts, ",")
}

const day = 24 * time.Hour

// diurnal follows low + (high-low)·(1+cos θ)/2 with θ = 2π·(time of UTC day −
// peak)/24h: the same on every GPU, smooth, and exactly integrable.
type diurnal struct {
	low, high float64
	peak      time.Duration
}

// phase is θ(t); computed from the time of day so that float precision does
// not depend on how far t is from the epoch.
func (d diurnal) phase(t time.Time) float64 {
	ns := (t.UnixNano() - int64(d.peak)) % int64(day)
	if ns < 0 {
		ns += int64(day)
	}
	return 2 * math.Pi * float64(ns) / float64(day)
}

func (d diurnal) Utilization(_ int, t time.Time) float64 {
	return d.low + (d.high-d.low)*(1+math.Cos(d.phase(t)))/2
}

// BusySeconds uses ∫(1+cos θ)/2 ds = T/2 + D/(4π)·(sin θ(to) − sin θ(from)),
// clamped to [low·T, high·T] against cancellation error on short intervals.
func (d diurnal) BusySeconds(_ int, from, to time.Time) float64 {
	T := seconds(from, to)
	if T == 0 {
		return 0
	}
	shape := T/2 + day.Seconds()/(4*math.Pi)*(math.Sin(d.phase(to))-math.Sin(d.phase(from)))
	shape = math.Min(math.Max(shape, 0), T)
	return d.low*T + (d.high-d.low)*shape
}

func (d diurnal) String() string {
	return fmt.Sprintf("diurnal:low=%g,high=%g,peak=%s", d.low, d.high, d.peak)
}

// bursty alternates each GPU between base and burst in epoch-aligned slots.
// Whether a slot bursts is a pure function of (seed, gpu, slot), so it needs
// no shared random source, no lock, and gives the same answer on every call.
type bursty struct {
	base, burst, duty float64
	period            time.Duration
	seed              uint64
}

// splitmix64 is a fast, well-mixed 64-bit hash step (Steele et al.).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (b bursty) slot(t time.Time) int64 {
	ns, p := t.UnixNano(), int64(b.period)
	k := ns / p
	if ns%p < 0 {
		k-- // floor division for times before the epoch
	}
	return k
}

func (b bursty) level(gpu int, slot int64) float64 {
	h := splitmix64(splitmix64(splitmix64(b.seed)^uint64(gpu)) ^ uint64(slot))
	if float64(h>>11)/(1<<53) < b.duty {
		return b.burst
	}
	return b.base
}

func (b bursty) Utilization(gpu int, t time.Time) float64 { return b.level(gpu, b.slot(t)) }

// BusySeconds walks the slots that [from, to) touches, in integer nanoseconds
// so that slot edges are exact.
func (b bursty) BusySeconds(gpu int, from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	a, z, p := from.UnixNano(), to.UnixNano(), int64(b.period)
	var busy float64
	for k := b.slot(from); ; k++ {
		start, end := max(a, k*p), min(z, (k+1)*p)
		if start >= z {
			break
		}
		busy += b.level(gpu, k) * float64(end-start) / 1e9
	}
	return busy
}

func (b bursty) String() string {
	return fmt.Sprintf("bursty:base=%g,burst=%g,duty=%g,period=%s,seed=%d", b.base, b.burst, b.duty, b.period, int64(b.seed))
}

// busySeconds integrates any workload over [from, to): exactly through
// Integrator, otherwise by the midpoint rule on one-second steps (longer
// steps beyond 100 000 s, to bound the work per read), which is exact for
// workloads that are constant over whole seconds. The result is clamped to
// [0, to−from].
func busySeconds(w Workload, gpu int, from, to time.Time) float64 {
	T := seconds(from, to)
	if T == 0 {
		return 0
	}
	var busy float64
	if in, ok := w.(Integrator); ok {
		busy = in.BusySeconds(gpu, from, to)
	} else {
		n := int64(math.Ceil(T))
		n = min(max(n, 1), 100_000)
		step := to.Sub(from) / time.Duration(n)
		for i := int64(0); i < n; i++ {
			lo := from.Add(time.Duration(i) * step)
			hi := lo.Add(step)
			if i == n-1 {
				hi = to
			}
			busy += clampUtil(w.Utilization(gpu, lo.Add(hi.Sub(lo)/2))) * hi.Sub(lo).Seconds()
		}
	}
	if math.IsNaN(busy) {
		return 0
	}
	return math.Min(math.Max(busy, 0), T)
}

// clampUtil keeps a custom workload's value inside NVML's range.
func clampUtil(u float64) float64 {
	if math.IsNaN(u) || u < 0 {
		return 0
	}
	return math.Min(u, 1)
}
