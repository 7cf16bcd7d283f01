package figures

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A report as of a moment later than now is refused, naming both times; now and earlier are fine (issue 10,
// section 3, second defect).
func TestCheckAt(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		at      time.Time
		refused bool
	}{
		{now, false},
		{now.Add(-time.Hour), false},
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{now.Add(time.Second), true},
		{now.AddDate(0, 1, 0), true},
	} {
		err := CheckAt(tc.at, now)
		if (err != nil) != tc.refused || (err != nil && !errors.Is(err, ErrFutureAt)) {
			t.Errorf("CheckAt(%s) = %v, refused want %v", tc.at, err, tc.refused)
			continue
		}
		if err != nil && (!strings.Contains(err.Error(), tc.at.Format(time.RFC3339)) || !strings.Contains(err.Error(), now.Format(time.RFC3339))) {
			t.Errorf("CheckAt(%s) = %q, want both times named", tc.at, err)
		}
	}
}

// The daily period ends at the complete hours before at and starts at midnight, days-1 days before at's day.
func TestDailyPeriod(t *testing.T) {
	for _, tc := range []struct {
		at       string
		days     int
		from, to string
	}{
		{"2026-11-25T12:30:00Z", 1, "2026-11-25T00:00:00Z", "2026-11-25T12:00:00Z"},
		{"2026-11-25T12:30:00Z", 31, "2026-10-26T00:00:00Z", "2026-11-25T12:00:00Z"},
		{"2026-11-25T00:00:00Z", 2, "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z"},
		{"2026-03-01T00:59:59Z", 1, "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		from, to := DailyPeriod(at, tc.days)
		if from.Format(time.RFC3339) != tc.from || to.Format(time.RFC3339) != tc.to {
			t.Errorf("DailyPeriod(%s, %d) = %s..%s, want %s..%s", tc.at, tc.days, from.Format(time.RFC3339),
				to.Format(time.RFC3339), tc.from, tc.to)
		}
	}
}
