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
		{"with alertmanager", Config{Interval: time.Minute, AlertmanagerURL: "https://am:9093"}, nil},
		{"zero interval", Config{}, []string{"--alert-interval"}},
		{"both bad", Config{Interval: -time.Second, AlertmanagerURL: "am:9093"}, []string{"--alert-interval", "--alertmanager-url"}},
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
