package main

import (
	"strings"
	"testing"
	"time"
)

// report refuses an --at later than now, and bad --days, before it connects anywhere (issue 10, section 3: a future
// --at was silently cut at now while the header said the later time).
func TestReportRefusesBadFlags(t *testing.T) {
	t.Setenv("GPUMETER_CLICKHOUSE_ADDR", "127.0.0.1:1") // nothing listens: a connection attempt would fail otherwise
	future := time.Now().UTC().AddDate(1, 0, 0).Format(time.RFC3339)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--at=" + future}, []string{"--at: " + future, "later than now"}},
		{[]string{"--days=0"}, []string{"--days: 0"}},
		{[]string{"--at=" + future, "--days=-3"}, []string{"--at: ", "--days: -3"}},
	} {
		err := runReport(t.Context(), tc.args)
		if err == nil {
			t.Errorf("report %q: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("report %q: error %q lacks %q", tc.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("report %q tried to connect: %v", tc.args, err)
		}
	}
}
