package figures

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// DailyUsage is one provider's GPU-hours on one UTC day.
type DailyUsage struct {
	Day              time.Time
	Provider         string
	GPUs             uint64 // the most GPUs one hour of the day held
	ProvisionedHours float64
	BusyHours        float64
	BusyKnownHours   float64 // the GPU-hours whose busy time was measured (MIG without GPM reports none)
	EnergyKWh        float64
}

// Efficiency is busy / busy-known GPU-hours: GPU-hours whose busy time is unknown count neither as busy nor as idle,
// as in the commitment figures' efficiency (schema/README.md). 0 when no busy time is known.
func (d DailyUsage) Efficiency() float64 { return BusyShare(d.BusyHours, d.BusyKnownHours) }

// BusyShare is busy / busy-known GPU-hours (unknown busy time is neither busy nor idle); 0 when none is known.
func BusyShare(busy, known float64) float64 {
	if known == 0 {
		return 0
	}
	return busy / known
}

// DailyPeriod is the span of the daily section for a report as of at: the days whole days before at's day and at's
// day up to the complete hours before at, the hours the commitment figures count. It starts at midnight.
func DailyPeriod(at time.Time, days int) (from, to time.Time) {
	to = at.UTC().Truncate(time.Hour)
	day := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	return day.AddDate(0, 0, 1-days), to
}

// Daily reads GPU-hours per provider and UTC day over the hours in [from, to), ordered by day and provider, from the
// hourly rollup (queries/usage_daily.sql). A day that to cuts holds only its hours before to.
func Daily(ctx context.Context, conn driver.Conn, db string, from, to time.Time) ([]DailyUsage, error) {
	if !to.After(from) {
		return nil, nil
	}
	q, err := chschema.Query("usage_daily", map[string]string{"DB": db, "From": chschema.DateTime(from), "To": chschema.DateTime(to)})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query daily usage from %s.gpu_usage_hourly: %w", db, err)
	}
	defer rows.Close()
	var out []DailyUsage
	for rows.Next() {
		var d DailyUsage
		if err := rows.Scan(&d.Day, &d.Provider, &d.GPUs, &d.ProvisionedHours, &d.BusyHours, &d.BusyKnownHours, &d.EnergyKWh); err != nil {
			return nil, fmt.Errorf("read daily usage: %w", err)
		}
		d.Day = d.Day.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// ProviderTotals sums the daily rows per provider, in the order providers first appear.
func ProviderTotals(rows []DailyUsage) []DailyUsage {
	var out []DailyUsage
	index := map[string]int{}
	for _, r := range rows {
		i, ok := index[r.Provider]
		if !ok {
			i = len(out)
			index[r.Provider] = i
			out = append(out, DailyUsage{Provider: r.Provider})
		}
		out[i].ProvisionedHours += r.ProvisionedHours
		out[i].BusyHours += r.BusyHours
		out[i].BusyKnownHours += r.BusyKnownHours
		out[i].EnergyKWh += r.EnergyKWh
	}
	return out
}
