package report

import (
	"cmp"
	"encoding/csv"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// teamRow is one line of a team section: GPU-hours, busy share and cost (per currency) of a group of TeamUsage rows.
type teamRow struct {
	Key                                       []string // team, provider; or commitment, team
	GPUHours, BusyGPUHours, BusyKnownGPUHours float64
	Costs                                     map[string]float64 // by currency; "" (unpriced) is left out
}

// costText writes the costs by currency ("12.00 USD + 3.00 EUR"), or "-" when nothing priced the GPU-hours.
func (t teamRow) costText() string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(t.Costs)) {
		parts = append(parts, money(t.Costs[c], c))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " + ")
}

// teamRows groups the rows by key, in key order.
func teamRows(us []figures.TeamUsage, key func(figures.TeamUsage) ([]string, bool)) []teamRow {
	index := map[string]int{}
	var out []teamRow
	for _, u := range us {
		k, ok := key(u)
		if !ok {
			continue
		}
		id := strings.Join(k, "\x00")
		i, seen := index[id]
		if !seen {
			i = len(out)
			index[id] = i
			out = append(out, teamRow{Key: k, Costs: map[string]float64{}})
		}
		out[i].GPUHours += u.GPUHours
		out[i].BusyGPUHours += u.BusyGPUHours
		out[i].BusyKnownGPUHours += u.BusyKnownGPUHours
		if u.Currency != "" {
			out[i].Costs[u.Currency] += u.Cost
		}
	}
	slices.SortFunc(out, func(a, b teamRow) int { return slices.Compare(a.Key, b.Key) })
	return out
}

func orNone(s string) string { return cmp.Or(s, "(none)") }

// byTeamProvider is the team × provider section; byCommitmentTeam the per commitment by team one (covered GPU-hours).
func byTeamProvider(us []figures.TeamUsage) []teamRow {
	return teamRows(us, func(u figures.TeamUsage) ([]string, bool) { return []string{orNone(u.Team), u.Provider}, true })
}

func byCommitmentTeam(us []figures.TeamUsage) []teamRow {
	return teamRows(us, func(u figures.TeamUsage) ([]string, bool) {
		return []string{u.CommitmentID, orNone(u.Team)}, u.CommitmentID != ""
	})
}

// teamCells are a section's rows as the table and the page print them.
func teamCells(rows []teamRow) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = append(slices.Clip(r.Key), formatNum(r.GPUHours, 1), formatNum(100*figures.BusyShare(r.BusyGPUHours, r.BusyKnownGPUHours), 1), r.costText())
	}
	return out
}

// teamSection is one team section: its title, the names of its two key columns and its rows.
type teamSection struct {
	Title, K1, K2 string
	Rows          []teamRow
}

// teamSections are the two team sections, as the table and the page show them.
func teamSections(us []figures.TeamUsage) []teamSection {
	return []teamSection{
		{"GPU-hours and cost per team and provider (the daily section's hours)", "team", "provider", byTeamProvider(us)},
		{"GPU-hours and cost per commitment and team (the daily section's hours)", "commitment", "team", byCommitmentTeam(us)},
	}
}

// writeTeams prints the two team sections of the text report.
func writeTeams(w io.Writer, us []figures.TeamUsage) error {
	for _, sec := range teamSections(us) {
		if _, err := io.WriteString(w, "\n"+sec.Title+"\n"); err != nil {
			return err
		}
		if len(sec.Rows) == 0 {
			if _, err := io.WriteString(w, "no usage recorded\n"); err != nil {
				return err
			}
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		if _, err := io.WriteString(tw, sec.K1+"\t"+sec.K2+"\tGPU-hours\tbusy %\tcost\t\n"); err != nil {
			return err
		}
		for _, c := range teamCells(sec.Rows) {
			if _, err := io.WriteString(tw, strings.Join(c, "\t")+"\t\n"); err != nil {
				return err
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// teamColumns are the team section's CSV and JSON columns: one row per team, provider, commitment ("" = none) and
// currency of the cost ("" = unpriced).
var teamColumns = []string{"team", "provider", "commitment_id", "gpu_hours", "busy_gpu_hours", "busy_known_gpu_hours",
	"busy_share", "cost", "currency"}

func teamValues(u figures.TeamUsage) []any {
	return []any{u.Team, u.Provider, u.CommitmentID, u.GPUHours, u.BusyGPUHours, u.BusyKnownGPUHours, u.BusyShare(),
		u.Cost, u.Currency}
}

// dailyColumns are the daily section's CSV columns.
var dailyColumns = []string{"day", "provider", "gpus", "provisioned_gpu_hours", "busy_gpu_hours", "busy_known_gpu_hours",
	"busy_share", "energy_kwh"}

func dailyValues(d figures.DailyUsage) []any {
	return []any{d.Day.Format("2006-01-02"), d.Provider, float64(d.GPUs), d.ProvisionedHours, d.BusyHours,
		d.BusyKnownHours, d.Efficiency(), d.EnergyKWh}
}

// writeCSVRows writes a header and rows of strings and float64s, numbers rounded for people (csvNumber).
func writeCSVRows(w io.Writer, columns []string, rows [][]any) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	for _, vals := range rows {
		rec := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case string:
				rec[i] = v
			case float64:
				rec[i] = csvNumber(columns[i], v)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvNumber rounds a figure for people: fractions (utilization, efficiency, busy share) and prices to 4 decimals,
// GPU-hours, money and the rest to 2. JSON keeps full precision.
func csvNumber(column string, v float64) string {
	dec := 2.0
	switch {
	case column == "utilization" || column == "efficiency" || column == "busy_share" || strings.HasSuffix(column, "_price"):
		dec = 4
	}
	p := math.Pow(10, dec)
	r := math.Round(v*p) / p
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// WriteDailyCSV writes the daily section: GPU-hours per provider and day.
func WriteDailyCSV(w io.Writer, r Report) error {
	rows := make([][]any, len(r.Daily))
	for i, d := range r.Daily {
		rows[i] = dailyValues(d)
	}
	return writeCSVRows(w, dailyColumns, rows)
}

// WriteTeamsCSV writes the team section: GPU-hours, busy share and cost per team, provider and commitment.
func WriteTeamsCSV(w io.Writer, r Report) error {
	rows := make([][]any, len(r.Teams))
	for i, u := range r.Teams {
		rows[i] = teamValues(u)
	}
	return writeCSVRows(w, teamColumns, rows)
}

// CSVFiles are the CSV report's files, one per section: the commitments (WriteCSV), the daily and the team
// section. Suffix is what the report command inserts before --out's .csv ("report.csv", "report-daily.csv").
var CSVFiles = []struct {
	Suffix string
	Write  func(io.Writer, Report) error
}{{"", WriteCSV}, {"-daily", WriteDailyCSV}, {"-teams", WriteTeamsCSV}}
