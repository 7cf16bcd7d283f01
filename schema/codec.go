package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrUnknownVersion is wrapped by Decode when a record carries a schema version this build does not understand.
var ErrUnknownVersion = errors.New("unknown schema version")

// ErrMalformed is wrapped by Decode when a message is not a well-formed record.
var ErrMalformed = errors.New("malformed record")

// InvalidError says which field of a decoded record breaks which rule.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid record: %s: %s", e.Field, e.Reason)
}

// Encode writes r as one line of JSON. JSON because people read records with kcat while debugging, and because
// encoding/json decodes a record in a few microseconds: far from the bottleneck next to a ClickHouse insert (see
// BenchmarkDecode and schema/README.md).
func Encode(r *Record) ([]byte, error) {
	if r.Version == 0 {
		r.Version = Version
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record for %s/%s: %w", r.Node, r.GPUUUID, err)
	}
	return b, nil
}

// Decode parses and validates one record. Its errors wrap ErrUnknownVersion, ErrMalformed or are *InvalidError, so a
// caller can dead-letter the message with the reason and keep going.
func Decode(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		// A future version may change a field's type; report the version rather than the type error it caused.
		if v, ok := peekVersion(b); ok && !slices.Contains(SupportedVersions, v) {
			return Record{}, fmt.Errorf("%w %d (this build reads %v)", ErrUnknownVersion, v, SupportedVersions)
		}
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Version == 0 {
		return Record{}, fmt.Errorf("%w: missing schema version field \"v\"", ErrMalformed)
	}
	if !slices.Contains(SupportedVersions, r.Version) {
		return Record{}, fmt.Errorf("%w %d (this build reads %v)", ErrUnknownVersion, r.Version, SupportedVersions)
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func peekVersion(b []byte) (int, bool) {
	var p struct {
		V *int `json:"v"`
	}
	if json.Unmarshal(b, &p) != nil || p.V == nil {
		return 0, false
	}
	return *p.V, true
}

// slack absorbs float rounding when seconds are compared with a window's length.
const slack = 1e-6

// maxInterval bounds a reporting interval; anything longer is a broken clock or a broken agent.
const maxInterval = 24 * time.Hour

// Validate checks the rules every stored record satisfies. It returns the first broken rule as *InvalidError.
func (r *Record) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Node == "":
		return bad("node", "empty")
	case r.GPUUUID == "":
		return bad("gpu_uuid", "empty")
	case r.Provider == "":
		return bad("provider", "empty (use \"unknown\")")
	case r.IntervalStart.IsZero() || r.IntervalEnd.IsZero():
		return bad("interval_start", "interval times missing")
	case !r.IntervalEnd.After(r.IntervalStart):
		return bad("interval_end", "%s is not after interval_start %s", r.IntervalEnd, r.IntervalStart)
	case r.IntervalEnd.Sub(r.IntervalStart) > maxInterval:
		return bad("interval_end", "interval longer than %s", maxInterval)
	case r.WindowStart.Before(r.IntervalStart) || r.WindowEnd.After(r.IntervalEnd):
		return bad("window_start", "window %s..%s is not inside interval %s..%s",
			r.WindowStart, r.WindowEnd, r.IntervalStart, r.IntervalEnd)
	case !r.WindowEnd.After(r.WindowStart):
		return bad("window_end", "%s is not after window_start %s", r.WindowEnd, r.WindowStart)
	}
	window := r.WindowEnd.Sub(r.WindowStart).Seconds()
	if err := checkSeconds("provisioned_seconds", r.ProvisionedSeconds, window); err != nil {
		return err
	}
	if r.ProvisionedSeconds <= 0 {
		return bad("provisioned_seconds", "must be positive, got %g", r.ProvisionedSeconds)
	}
	if err := checkSeconds("allocated_seconds", r.AllocatedSeconds, r.ProvisionedSeconds); err != nil {
		return err
	}
	if r.BusySeconds != nil {
		if err := checkSeconds("busy_seconds", *r.BusySeconds, r.ProvisionedSeconds); err != nil {
			return err
		}
	}
	if r.EnergyJoules != nil && (*r.EnergyJoules < 0 || math.IsInf(*r.EnergyJoules, 0) || math.IsNaN(*r.EnergyJoules)) {
		return bad("energy_joules", "must be a non-negative number, got %g", *r.EnergyJoules)
	}
	if r.PowerAvgWatts != nil && (*r.PowerAvgWatts < 0 || math.IsNaN(*r.PowerAvgWatts)) {
		return bad("power_avg_watts", "must be a non-negative number, got %g", *r.PowerAvgWatts)
	}
	if r.MemoryUsedAvgBytes < 0 || float64(r.MemoryUsedMaxBytes)+1 < r.MemoryUsedAvgBytes {
		return bad("memory_used_avg_bytes", "%g is negative or above memory_used_max_bytes %d",
			r.MemoryUsedAvgBytes, r.MemoryUsedMaxBytes)
	}
	return nil
}

func checkSeconds(field string, v, limit float64) error {
	if math.IsNaN(v) || v < 0 || v > limit*(1+slack)+slack {
		return &InvalidError{Field: field, Reason: fmt.Sprintf("%g is outside [0, %g]", v, limit)}
	}
	return nil
}
