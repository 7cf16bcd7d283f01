//go:build integration

package store

import (
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/testenv"
)

// Connection errors name the address and the cause, and an address that is ClickHouse's HTTP port gets a hint.
func TestOpenErrorsNameTheCause(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"http port", Config{Addr: []string{testenv.ClickHouseHTTPAddr(t)}}, []string{"is ClickHouse's HTTP interface", "native protocol port"}},
		{"dns", Config{Addr: []string{"no-such-host.invalid:9000"}}, []string{"no-such-host.invalid", "no such host"}},
		{"refused", Config{Addr: []string{"127.0.0.1:1"}}, []string{"127.0.0.1:1", "connection refused"}},
		{"login", Config{Addr: []string{testenv.ClickHouseAddr(t)}, User: "nobody", Password: "wrong"}, []string{"nobody"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Database, cfg.DialTimeout = "gpumeter", time.Second
			st, err := Open(t.Context(), cfg, testenv.Logger(t))
			if err == nil {
				_ = st.Close()
				t.Fatal("connected")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.name != "http port" && strings.Contains(err.Error(), "HTTP interface") {
				t.Errorf("a hint where none belongs: %v", err)
			}
		})
	}
}
