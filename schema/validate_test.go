package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// setString sets the string field named by its JSON name, so the limits' table drives the tests.
func setString(t *testing.T, r *Record, field, v string) {
	t.Helper()
	b, _ := json.Marshal(r)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = v
	b, _ = json.Marshal(m)
	*r = Record{}
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatal(err)
	}
}

func TestFieldLimits(t *testing.T) {
	if len(FieldLimits) != 13 {
		t.Fatalf("FieldLimits lists %d fields; every string field of Record needs a limit", len(FieldLimits))
	}
	for _, l := range FieldLimits {
		t.Run(l.Field, func(t *testing.T) {
			at := sampleRecord()
			setString(t, &at, l.Field, strings.Repeat("x", l.MaxBytes))
			b, _ := Encode(&at)
			if _, err := Decode(b); err != nil {
				t.Fatalf("value of exactly %d bytes rejected: %v", l.MaxBytes, err)
			}
			over := sampleRecord()
			setString(t, &over, l.Field, strings.Repeat("x", l.MaxBytes+1))
			b, _ = Encode(&over)
			_, err := Decode(b)
			var inv *InvalidError
			if !errors.As(err, &inv) || inv.Field != l.Field {
				t.Fatalf("%d bytes: got %v, want an error naming %s", l.MaxBytes+1, err, l.Field)
			}
			want := fmt.Sprintf("%d bytes, over the limit of %d", l.MaxBytes+1, l.MaxBytes)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

// A multi-megabyte field is refused before a Record is built, the error names the field and the sizes, and stays
// short enough for a dead letter's header.
func TestDecodeRejectsOversizedMessage(t *testing.T) {
	for _, field := range []string{"team", "pod", "provider", "some_future_field"} {
		t.Run(field, func(t *testing.T) {
			b, _ := Encode(new(sampleRecord()))
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m[field] = strings.Repeat("y", 9<<20)
			b, _ = json.Marshal(m)
			_, err := Decode(b)
			var inv *InvalidError
			if !errors.As(err, &inv) || inv.Field != field {
				t.Fatalf("got %v, want an error naming %s", err, field)
			}
			for _, want := range []string{strconv.Itoa(9 << 20), strconv.Itoa(len(b)), strconv.Itoa(MaxRecordBytes)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
	t.Run("huge field name", func(t *testing.T) {
		b, _ := Encode(new(sampleRecord()))
		b = append([]byte(`{"`+strings.Repeat("k", 1<<20)+`":1,`), b[1:]...)
		if _, err := Decode(b); err == nil || len(err.Error()) > 300 {
			t.Fatalf("got %.300v", err)
		}
	})
	t.Run("not json", func(t *testing.T) {
		if _, err := Decode([]byte(strings.Repeat("z", MaxRecordBytes+1))); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
}

func TestValidateRules(t *testing.T) {
	hour := time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)
	span := func(r *Record, start time.Time, length time.Duration) {
		r.IntervalStart, r.IntervalEnd = start, start.Add(length)
		r.WindowStart, r.WindowEnd = start, start.Add(length)
		s := length.Seconds()
		r.ProvisionedSeconds, r.AllocatedSeconds, r.BusySeconds, r.EnergyJoules = s, s, Float(s/2), Float(100*s)
		r.Samples = uint32(s)
	}
	tests := []struct {
		name  string
		edit  func(*Record)
		field string // empty: valid
	}{
		{name: "sample", edit: func(*Record) {}},
		// ClickHouse's DateTime range.
		{name: "year 1900", edit: func(r *Record) { span(r, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute) }, field: "interval_start"},
		{name: "year 1969", edit: func(r *Record) { span(r, time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC), time.Minute) }, field: "interval_start"},
		{name: "year 0001", edit: func(r *Record) { span(r, time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Second) }, field: "interval_start"},
		{name: "epoch zero", edit: func(r *Record) { span(r, time.Unix(0, 0), time.Minute) }, field: "interval_start"},
		{name: "just after the epoch", edit: func(r *Record) { span(r, time.Unix(60, 0), time.Minute) }},
		{name: "year 2105", edit: func(r *Record) { span(r, time.Date(2105, 12, 31, 23, 0, 0, 0, time.UTC), time.Hour) }},
		{name: "year 2106", edit: func(r *Record) { span(r, time.Date(2106, 1, 2, 0, 0, 0, 0, time.UTC), time.Minute) }, field: "interval_start"},
		{name: "year 2200", edit: func(r *Record) { span(r, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute) }, field: "interval_start"},
		{name: "window end missing", edit: func(r *Record) { r.WindowEnd = time.Time{} }, field: "window_end"},
		// Intervals the identity and the hourly rollup can hold.
		{name: "one second", edit: func(r *Record) { span(r, hour, time.Second) }},
		{name: "half an hour", edit: func(r *Record) { span(r, hour.Add(30*time.Minute), 30*time.Minute) }},
		{name: "one hour", edit: func(r *Record) { span(r, hour, time.Hour) }},
		{name: "sub-second", edit: func(r *Record) { span(r, hour, 500*time.Millisecond) }, field: "interval_end"},
		{name: "fractional seconds", edit: func(r *Record) { span(r, hour, 1500*time.Millisecond) }, field: "interval_end"},
		{name: "does not divide an hour", edit: func(r *Record) { span(r, hour, 7*time.Second) }, field: "interval_end"},
		{name: "two hours", edit: func(r *Record) { span(r, hour, 2*time.Hour) }, field: "interval_end"},
		{name: "a day", edit: func(r *Record) { span(r, hour.Truncate(24*time.Hour), 24*time.Hour) }, field: "interval_end"},
		{name: "unaligned", edit: func(r *Record) { span(r, hour.Add(30*time.Second), time.Minute) }, field: "interval_start"},
		{name: "unaligned by a millisecond", edit: func(r *Record) { span(r, hour.Add(time.Millisecond), time.Minute) }, field: "interval_start"},
		{name: "window past interval", edit: func(r *Record) { r.WindowEnd = r.IntervalEnd.Add(time.Second) }, field: "window_start"},
		{name: "window before interval", edit: func(r *Record) { r.WindowStart = r.IntervalStart.Add(-time.Second) }, field: "window_start"},
		// Measures.
		{name: "gpu_index negative", edit: func(r *Record) { r.GPUIndex = -1 }, field: "gpu_index"},
		{name: "gpu_index past UInt16", edit: func(r *Record) { r.GPUIndex = 70000 }, field: "gpu_index"},
		{name: "provisioned within slack", edit: func(r *Record) { r.ProvisionedSeconds = 60.00000001 }},
		{name: "provisioned over window", edit: func(r *Record) { r.ProvisionedSeconds = 60.1 }, field: "provisioned_seconds"},
		{name: "allocated over provisioned", edit: func(r *Record) { r.AllocatedSeconds = 61 }, field: "allocated_seconds"},
		{name: "busy negative", edit: func(r *Record) { r.BusySeconds = Float(-0.5) }, field: "busy_seconds"},
		{name: "energy 1e308", edit: func(r *Record) { r.EnergyJoules = Float(1e308) }, field: "energy_joules"},
		{name: "energy at 10 kW", edit: func(r *Record) { r.EnergyJoules = Float(MaxWattsPerGPU * 60) }},
		{name: "energy above 10 kW", edit: func(r *Record) { r.EnergyJoules = Float(MaxWattsPerGPU*60 + 1) }, field: "energy_joules"},
		{name: "power 1e308", edit: func(r *Record) { r.PowerAvgWatts = Float(1e308) }, field: "power_avg_watts"},
		{name: "power negative", edit: func(r *Record) { r.PowerAvgWatts = Float(-1) }, field: "power_avg_watts"},
		{name: "memory avg above max", edit: func(r *Record) { r.MemoryUsedAvgBytes = 2 * float64(r.MemoryUsedMaxBytes) }, field: "memory_used_avg_bytes"},
		{name: "samples absurd", edit: func(r *Record) { r.Samples = 4_000_000_000 }, field: "samples"},
		{name: "samples every millisecond", edit: func(r *Record) { r.Samples = 60_001 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRecord()
			tt.edit(&r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid record rejected: %v", err)
				}
				// And through the wire.
				b, _ := Encode(&r)
				if _, err := Decode(b); err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			var inv *InvalidError
			if !errors.As(err, &inv) || inv.Field != tt.field {
				t.Fatalf("got %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestDecodeAtRejectsTheFarFuture(t *testing.T) {
	r := sampleRecord()
	b, _ := Encode(&r)
	end := r.WindowEnd
	tests := []struct {
		now time.Time
		ok  bool
	}{
		{now: end, ok: true},
		{now: end.Add(365 * 24 * time.Hour), ok: true},      // old data is fine
		{now: end.Add(-MaxFuture), ok: true},                // exactly a day ahead
		{now: end.Add(-MaxFuture - time.Second), ok: false}, // more than a day ahead
	}
	for _, tt := range tests {
		_, err := DecodeAt(b, tt.now)
		if (err == nil) != tt.ok {
			t.Errorf("now %s: got %v, want ok=%v", tt.now, err, tt.ok)
		}
		if err := r.ValidateAt(tt.now); (err == nil) != tt.ok {
			t.Errorf("ValidateAt %s: got %v, want ok=%v", tt.now, err, tt.ok)
		}
		var inv *InvalidError
		if err != nil && (!errors.As(err, &inv) || inv.Field != "window_end" || !strings.Contains(err.Error(), "ahead")) {
			t.Errorf("error %q does not name window_end and the reason", err)
		}
	}
	if _, err := Decode(b); err != nil {
		t.Errorf("Decode needs no clock: %v", err)
	}
}

func TestCheckInterval(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 15 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour} {
		if err := CheckInterval(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, d := range []time.Duration{0, -time.Minute, 500 * time.Millisecond, 1500 * time.Millisecond, 7 * time.Second, 7 * time.Minute, 2 * time.Hour, 24 * time.Hour} {
		if err := CheckInterval(d); err == nil {
			t.Errorf("%s accepted", d)
		}
	}
}

// schema/README.md's table of field limits is FieldLimits.
func TestREADMEFieldLimits(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d+) \\|$")
	got := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(got) != len(FieldLimits) {
		t.Errorf("README lists %d field limits, FieldLimits %d", len(got), len(FieldLimits))
	}
	for _, l := range FieldLimits {
		if got[l.Field] != l.MaxBytes {
			t.Errorf("README: %s limit %d, code %d", l.Field, got[l.Field], l.MaxBytes)
		}
	}
	for _, want := range []string{strconv.Itoa(MaxRecordBytes/1024) + " KiB", strconv.Itoa(int(MaxFuture.Hours())) + " h", strconv.Itoa(MaxWattsPerGPU) + " W"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README does not mention %q", want)
		}
	}
}
