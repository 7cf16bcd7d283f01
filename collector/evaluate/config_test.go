package evaluate

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // flags the error names; none: valid
	}{
		{"default", DefaultConfig(), nil},
		{"one minute", Config{Interval: time.Minute}, nil},
		{"zero interval", Config{}, []string{"--alert-interval"}},
		{"negative interval", Config{Interval: -time.Second}, []string{"--alert-interval"}}, // URLs: alert.TestFlagsRejected
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (len(tc.want) == 0) {
			t.Errorf("%s: Validate() = %v", tc.name, err)
			continue
		}
		for _, key := range tc.want {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("%s: error %q does not name %s", tc.name, err, key)
			}
		}
	}
}
