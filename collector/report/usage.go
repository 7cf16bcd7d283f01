// Package report lays the figures of collector/figures out for people: a text table, CSV, JSON and a standalone
// HTML page with charts. It computes nothing and reads nothing.
package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// WriteDaily prints the daily usage as an aligned table with a total per provider.
func WriteDaily(w io.Writer, rows []figures.DailyUsage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "day\tprovider\tGPUs\tGPU-hours\tbusy GPU-hours\tbusy %\tenergy kWh\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", r.Day.Format("2006-01-02"), r.Provider, r.GPUs,
			r.ProvisionedHours, r.BusyHours, 100*r.Efficiency(), r.EnergyKWh)
	}
	for _, t := range figures.ProviderTotals(rows) {
		fmt.Fprintf(tw, "total\t%s\t\t%.1f\t%.1f\t%.1f\t%.1f\t\n", t.Provider, t.ProvisionedHours, t.BusyHours, 100*t.Efficiency(), t.EnergyKWh)
	}
	return tw.Flush()
}
