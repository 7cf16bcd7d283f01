package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/window"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Meta: window.Meta{Node: "n"}, SamplePeriod: time.Second, Interval: time.Minute}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"valid", func(*Config) {}, nil},
		{"no node", func(c *Config) { c.Meta.Node = "" }, []string{"--node-name"}},
		{"period does not divide", func(c *Config) { c.SamplePeriod = 7 * time.Second }, []string{"--sample-period"}},
		{"interval does not divide a day", func(c *Config) { c.Interval = 7 * time.Minute }, []string{"--interval"}},
		{"several at once", func(c *Config) { c.Meta.Node = ""; c.Duration = -time.Second; c.SamplePeriod = 0 },
			[]string{"--node-name", "--duration", "--sample-period"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
