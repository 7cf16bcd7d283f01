// Package report reads what analysts read (the gpu_usage view) and lays it out for people.
package report

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DailyUsage is one provider's GPU-hours on one UTC day.
type DailyUsage struct {
	Day              time.Time
	Provider         string
	GPUs             uint64
	ProvisionedHours float64
	BusyHours        float64
	EnergyKWh        float64
}

// Efficiency is busy / provisioned GPU-hours.
func (d DailyUsage) Efficiency() float64 {
	if d.ProvisionedHours == 0 {
		return 0
	}
	return d.BusyHours / d.ProvisionedHours
}

// Daily reads GPU-hours per provider and day from the gpu_usage view.
func Daily(ctx context.Context, conn driver.Conn, db string) ([]DailyUsage, error) {
	q := fmt.Sprintf(`SELECT toDate(interval_start) AS day, provider, uniqExact(gpu_uuid),
		sum(provisioned_seconds) / 3600, sum(ifNull(busy_seconds, 0)) / 3600, sum(ifNull(energy_joules, 0)) / 3.6e6
	FROM %s.gpu_usage GROUP BY day, provider ORDER BY day, provider`, db)
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query daily usage from %s.gpu_usage: %w", db, err)
	}
	defer rows.Close()
	var out []DailyUsage
	for rows.Next() {
		var d DailyUsage
		if err := rows.Scan(&d.Day, &d.Provider, &d.GPUs, &d.ProvisionedHours, &d.BusyHours, &d.EnergyKWh); err != nil {
			return nil, fmt.Errorf("read daily usage: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// WriteDaily prints the daily usage as an aligned table with a total per provider.
func WriteDaily(w io.Writer, rows []DailyUsage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "day\tprovider\tGPUs\tGPU-hours\tbusy GPU-hours\tbusy %\tenergy kWh\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", r.Day.Format("2006-01-02"), r.Provider, r.GPUs,
			r.ProvisionedHours, r.BusyHours, 100*r.Efficiency(), r.EnergyKWh)
	}
	for _, t := range ProviderTotals(rows) {
		fmt.Fprintf(tw, "total\t%s\t\t%.1f\t%.1f\t%.1f\t%.1f\t\n", t.Provider, t.ProvisionedHours, t.BusyHours, 100*t.Efficiency(), t.EnergyKWh)
	}
	return tw.Flush()
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
		out[i].EnergyKWh += r.EnergyKWh
	}
	return out
}
