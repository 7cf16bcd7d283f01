package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/window"
)

// --interval must be one the collector stores: whole seconds dividing an hour (schema.CheckInterval). The error is
// one line naming the flag.
func TestConfigValidateInterval(t *testing.T) {
	tests := []struct {
		interval, period time.Duration
		ok               bool
	}{
		{time.Minute, time.Second, true},
		{time.Second, 100 * time.Millisecond, true},
		{time.Hour, time.Second, true},
		{30 * time.Minute, 10 * time.Second, true},
		{500 * time.Millisecond, 100 * time.Millisecond, false}, // two windows a second would share an identity
		{1500 * time.Millisecond, 500 * time.Millisecond, false},
		{2 * time.Hour, time.Second, false}, // the hourly rollup would put it all into its first hour
		{24 * time.Hour, time.Second, false},
		{7 * time.Minute, time.Second, false}, // does not divide an hour
		{0, time.Second, false},
		{-time.Minute, time.Second, false},
	}
	c := Config{Meta: window.Meta{Node: "n"}, SamplePeriod: 100 * time.Microsecond, Interval: time.Second}
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "--sample-period: ") {
		t.Errorf("--sample-period=100µs: got %v, want an error naming --sample-period (records would carry absurd sample counts)", err)
	}
	for _, tt := range tests {
		c := Config{Meta: window.Meta{Node: "n"}, SamplePeriod: tt.period, Interval: tt.interval}
		err := c.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("--interval=%s --sample-period=%s: got %v, want ok=%v", tt.interval, tt.period, err, tt.ok)
			continue
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "--interval: ") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("--interval=%s: error %q is not one line naming --interval", tt.interval, err)
		}
	}
}
