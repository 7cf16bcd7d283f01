package schema

import (
	"fmt"
	"math"
	"time"
)

// InvalidError says which field of a decoded record breaks which rule.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid record: %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MaxRecordBytes bounds one encoded record. The string fields together hold at most a few KiB (FieldLimits), so this
// leaves room for fields a newer agent adds, and Decode refuses a larger message before building a Record from it.
const MaxRecordBytes = 64 << 10

// FieldLimit is the longest value, in bytes, that a string field may hold.
type FieldLimit struct {
	Field    string // the JSON name
	MaxBytes int
	index    int // the field, as fieldIndex numbers it (stringField reads it)
}

// FieldLimits lists every string field of the record with its longest accepted value, in wire order. The limits leave
// room above what the sources produce: Kubernetes names are at most 253 bytes (a DNS subdomain), NVML UUIDs and
// product names well under 100, cloud regions, zones, sizes and account ids under 128. schema/README.md's table of
// limits is this list (TestREADMEFieldLimits keeps them equal).
var FieldLimits = []FieldLimit{
	{"node", 253, fNode},
	{"provider", 64, fProvider},
	{"region", 64, fRegion},
	{"zone", 64, fZone},
	{"instance_type", 128, fInstanceType},
	{"account", 256, fAccount},
	{"gpu_uuid", 128, fGPUUUID},
	{"gpu_model", 128, fGPUModel},
	{"mig_profile", 64, fMIGProfile},
	{"parent_gpu_uuid", 128, fParentGPUUUID},
	{"namespace", 253, fNamespace},
	{"pod", 253, fPod},
	{"team", 253, fTeam},
}

func fieldLimit(field string) (int, bool) {
	for _, l := range FieldLimits {
		if l.Field == field {
			return l.MaxBytes, true
		}
	}
	return 0, false
}

// The times ClickHouse can store: DateTime is seconds since the epoch in a UInt32, and 0 is its "zero" value
// (0000-00-00 00:00:00), so every time must be after the epoch; the rollups' Date columns end in 2105. clickhouse-go
// does not range-check: a time outside this range is stored wrapped (1900 becomes 2036).
var (
	MinTime = time.Unix(0, 0).UTC()                       // exclusive
	MaxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC) // inclusive
)

// MaxFuture is how far ahead of the collector's clock a window may end (ValidateAt). Agents send closed windows, so
// a record from the future is a broken clock; a day leaves room for any clock skew that still meters correctly.
const MaxFuture = 24 * time.Hour

// MaxWattsPerGPU bounds energy_joules (MaxWattsPerGPU × window length) and power_avg_watts: ten times what any GPU
// draws today, so only a broken counter exceeds it.
const MaxWattsPerGPU = 10_000

// MinSamplePeriod bounds samples (at most one per MinSamplePeriod of the window, plus one): NVML cannot be read
// meaningfully faster. Agents refuse a shorter --sample-period.
const MinSamplePeriod = time.Millisecond

// slack absorbs float rounding when seconds are compared with a window's length.
const slack = 1e-6

// CheckInterval says whether d can be a reporting interval: a whole number of seconds that divides an hour (1s, 2s,
// …, 30m, 1h). Whole seconds because ClickHouse stores times in seconds (two windows in one second would share an
// identity); dividing an hour so every interval lies inside one hour of the rollups. Agents check --interval with
// it, collectors every record.
func CheckInterval(d time.Duration) error {
	if d < time.Second || d%time.Second != 0 || time.Hour%d != 0 {
		return fmt.Errorf("%s is not a whole number of seconds that divides an hour (1s, 2s, …, 30m, 1h)", d)
	}
	return nil
}

// Validate checks the rules every stored record satisfies, those that need no clock (see ValidateAt). It returns the
// first broken rule as *InvalidError naming the field.
func (r *Record) Validate() error { return r.validate(nil) }

// validate is Validate; valid, when not nil, holds times known to pass checkTimes (it is not run again for them), and
// gets r's once they passed.
func (r *Record) validate(valid *[4]time.Time) error {
	for _, l := range FieldLimits {
		if n := len(*stringField(r, l.index)); n > l.MaxBytes {
			return invalid(l.Field, "%d bytes, over the limit of %d", n, l.MaxBytes)
		}
	}
	switch {
	case r.Node == "":
		return invalid("node", "empty")
	case r.GPUUUID == "":
		return invalid("gpu_uuid", "empty")
	case r.Provider == "":
		return invalid("provider", "empty (use \"unknown\")")
	case r.GPUIndex < 0 || r.GPUIndex > math.MaxUint16:
		return invalid("gpu_index", "%d is outside [0, %d]", r.GPUIndex, math.MaxUint16)
	}
	times := [4]time.Time{r.IntervalStart, r.IntervalEnd, r.WindowStart, r.WindowEnd}
	if valid == nil || valid[0].IsZero() || times != *valid { // zero: nothing known yet
		if err := r.checkTimes(); err != nil {
			return err
		}
		if valid != nil {
			*valid = times
		}
	}
	return r.checkMeasures()
}

// ValidateAt is Validate plus the rule that needs the collector's clock: the window ends at most MaxFuture after now.
func (r *Record) ValidateAt(now time.Time) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return r.checkFuture(now)
}

func (r *Record) checkFuture(now time.Time) error {
	if limit := now.Add(MaxFuture); r.WindowEnd.After(limit) {
		return invalid("window_end", "%s is more than %s ahead of the collector's clock (%s)",
			r.WindowEnd.UTC().Format(time.RFC3339), MaxFuture, now.UTC().Format(time.RFC3339))
	}
	return nil
}

func (r *Record) checkTimes() error {
	for _, t := range []struct {
		field string
		at    time.Time
	}{{"interval_start", r.IntervalStart}, {"interval_end", r.IntervalEnd}, {"window_start", r.WindowStart}, {"window_end", r.WindowEnd}} {
		switch {
		case t.at.IsZero():
			return invalid(t.field, "missing")
		case !t.at.After(MinTime) || t.at.After(MaxTime):
			return invalid(t.field, "%s is outside the range ClickHouse stores (after %s, up to %s)",
				t.at.UTC().Format(time.RFC3339Nano), MinTime.Format(time.RFC3339), MaxTime.Format(time.RFC3339))
		}
	}
	length := r.IntervalEnd.Sub(r.IntervalStart)
	switch {
	case !r.IntervalEnd.After(r.IntervalStart):
		return invalid("interval_end", "%s is not after interval_start %s", r.IntervalEnd, r.IntervalStart)
	case CheckInterval(length) != nil:
		return invalid("interval_end", "interval length %s", CheckInterval(length))
	case r.IntervalStart.UnixNano()%int64(length) != 0:
		return invalid("interval_start", "%s is not aligned to a multiple of the interval length %s since the epoch",
			r.IntervalStart.UTC().Format(time.RFC3339Nano), length)
	case r.WindowStart.Before(r.IntervalStart) || r.WindowEnd.After(r.IntervalEnd):
		return invalid("window_start", "window %s..%s is not inside interval %s..%s",
			r.WindowStart, r.WindowEnd, r.IntervalStart, r.IntervalEnd)
	case !r.WindowEnd.After(r.WindowStart):
		return invalid("window_end", "%s is not after window_start %s", r.WindowEnd, r.WindowStart)
	}
	return nil
}

func (r *Record) checkMeasures() error {
	window := r.WindowEnd.Sub(r.WindowStart).Seconds()
	if err := checkRange("provisioned_seconds", r.ProvisionedSeconds, window); err != nil {
		return err
	}
	if r.ProvisionedSeconds <= 0 {
		return invalid("provisioned_seconds", "must be positive, got %g", r.ProvisionedSeconds)
	}
	if err := checkRange("allocated_seconds", r.AllocatedSeconds, r.ProvisionedSeconds); err != nil {
		return err
	}
	if r.BusySeconds != nil {
		if err := checkRange("busy_seconds", *r.BusySeconds, r.ProvisionedSeconds); err != nil {
			return err
		}
	}
	if r.EnergyJoules != nil {
		if err := checkRange("energy_joules", *r.EnergyJoules, MaxWattsPerGPU*window); err != nil {
			return err
		}
	}
	if r.PowerAvgWatts != nil {
		if err := checkRange("power_avg_watts", *r.PowerAvgWatts, MaxWattsPerGPU); err != nil {
			return err
		}
	}
	if err := checkRange("memory_used_avg_bytes", r.MemoryUsedAvgBytes, float64(r.MemoryUsedMaxBytes)+1); err != nil {
		return err
	}
	if maxSamples := math.Ceil(window/MinSamplePeriod.Seconds()) + 1; float64(r.Samples) > maxSamples {
		return invalid("samples", "%d in a window of %gs is more than one per %s", r.Samples, window, MinSamplePeriod)
	}
	return nil
}

// checkRange accepts v in [0, limit] with a little slack for float rounding; NaN and infinities are out.
func checkRange(field string, v, limit float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > limit*(1+slack)+slack {
		return invalid(field, "%g is outside [0, %g]", v, limit)
	}
	return nil
}
