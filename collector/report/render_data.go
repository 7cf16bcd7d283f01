package report

import (
	"encoding/json"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// The machine-readable column names of a commitment's figures, as the commitment_status and commitment_money_status
// views name them (money: overflow_cost, leakage_cost and leakage_24h_cost in money_currency, unused_value in
// unused_value_currency; "" currencies where the file has no price for them).
// Utilization and efficiency are fractions (0.65), times are RFC 3339 in UTC. unit is the unit of the amounts
// (committed, used, shortfall, forecasts, rates per hour): gpu_hour for capacity and usage commitments, the currency
// for spend ones; quantity_unit is the unit of quantity as the commitments file gives it (gpu for a reservation).
var commitmentColumns = []string{
	"at", "commitment_id", "name", "provider", "kind", "unit", "team", "quantity", "quantity_unit", "term_start", "term_end",
	"term_hours", "hours_elapsed", "hours_remaining", "commitment_total", "committed_to_date", "used_to_date",
	"utilization", "shortfall_to_date", "rate_linear", "rate_7d", "forecast_linear", "forecast_7d",
	"projected_shortfall_linear", "projected_shortfall_7d", "required_rate", "used_gpu_hours", "overflow_gpu_hours",
	"leakage_gpu_hours", "leakage_24h_gpu_hours", "money_currency", "overflow_cost", "leakage_cost", "leakage_24h_cost",
	"committed_price", "unused_value", "unused_value_currency", "efficiency", "alert_projected_shortfall_pct",
	"alert_min_utilization_pct", "alert_max_leakage_gpu_hours_24h", "verdict_level", "verdict",
}

// commitmentValues is a commitment's figures in commitmentColumns' order: strings, and float64 for numbers.
func commitmentValues(s figures.Status, at time.Time) []any {
	v := verdictOf(s, at)
	return []any{
		formatRFC3339(at), s.ID, s.Name, s.Provider, s.Kind, amountUnit(s), s.Team, s.Quantity, s.Unit,
		formatRFC3339(s.TermStart), formatRFC3339(s.TermEnd), s.TermHours, s.HoursElapsed, s.HoursLeft,
		s.CommitmentTotal, s.CommittedToDate, s.UsedToDate, s.Utilization, s.ShortfallToDate, s.RateLinear, s.Rate7d,
		s.ForecastLinear, s.Forecast7d, s.ProjectedShortfallLinear, s.ProjectedShortfall7d, s.RequiredRate,
		s.UsedGPUHours, s.OverflowGPUHours, s.LeakageGPUHours, s.Leakage24hGPUHours, s.MoneyCurrency, s.OverflowCost,
		s.LeakageCost, s.Leakage24hCost, s.CommittedPrice, s.UnusedValue, s.UnusedValueCurrency, s.Efficiency,
		s.AlertProjectedShortfallPct, s.AlertMinUtilizationPct, s.AlertMaxLeakageGPUHours24h, v.Level, v.Text,
	}
}

// amountUnit is the unit of a commitment's amounts: a reservation of N GPUs commits N GPU-hours every hour.
func amountUnit(s figures.Status) string {
	if s.Kind == "capacity" {
		return "gpu_hour"
	}
	return s.Unit
}

// WriteCSV writes one row per commitment with every figure, then overflow_<provider>_gpu_hours for every provider
// any commitment overflowed to (0 where a commitment had none there), rounded for people (csvNumber; the JSON keeps
// full precision). The daily and team sections are files of their own (CSVFiles).
func WriteCSV(w io.Writer, r Report) error {
	byColumn := make([]map[string]float64, len(r.Commitments))
	union := map[string]bool{}
	for i, s := range r.Commitments {
		byColumn[i] = map[string]float64{}
		for p, h := range s.OverflowByProvider {
			c := "overflow_" + columnName(p) + "_gpu_hours"
			byColumn[i][c] += h
			union[c] = true
		}
	}
	extra := slices.Sorted(maps.Keys(union))
	rows := make([][]any, len(r.Commitments))
	for i, s := range r.Commitments {
		rows[i] = commitmentValues(s, r.At)
		for _, c := range extra {
			rows[i] = append(rows[i], byColumn[i][c])
		}
	}
	return writeCSVRows(w, append(slices.Clip(commitmentColumns), extra...), rows)
}

// columnName makes a provider name safe inside a snake_case column name.
func columnName(s string) string {
	var b strings.Builder
	underscore := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return strings.Trim(b.String(), "_")
}

func formatRFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// jsonFloat is a number that writes null when it is not finite, where encoding/json would fail.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// jsonObject is an object whose keys keep their order, so the figures read as the CSV's columns do.
type jsonObject []jsonField

type jsonField struct {
	Key   string
	Value any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

type jsonTeam struct {
	Team              string    `json:"team"`
	Provider          string    `json:"provider"`
	CommitmentID      string    `json:"commitment_id"`
	GPUHours          jsonFloat `json:"gpu_hours"`
	BusyGPUHours      jsonFloat `json:"busy_gpu_hours"`
	BusyKnownGPUHours jsonFloat `json:"busy_known_gpu_hours"`
	BusyShare         jsonFloat `json:"busy_share"`
	Cost              jsonFloat `json:"cost"`
	Currency          string    `json:"currency"`
}

type jsonDaily struct {
	Day                 string    `json:"day"`
	Provider            string    `json:"provider"`
	GPUs                uint64    `json:"gpus"`
	ProvisionedGPUHours jsonFloat `json:"provisioned_gpu_hours"`
	BusyGPUHours        jsonFloat `json:"busy_gpu_hours"`
	Efficiency          jsonFloat `json:"efficiency"`
	EnergyKWh           jsonFloat `json:"energy_kwh"`
}

// WriteJSON writes {"at", "database", "commitments": [every figure under the CSV's column names, with
// overflow_by_provider], "daily": [GPU-hours per provider and day], "teams": [GPU-hours, busy share and cost per
// team, provider and commitment]}, indented, in full precision.
func WriteJSON(w io.Writer, r Report) error {
	commitments := []jsonObject{}
	for _, s := range r.Commitments {
		var o jsonObject
		for i, v := range commitmentValues(s, r.At) {
			if c := commitmentColumns[i]; c != "at" {
				if f, ok := v.(float64); ok {
					v = jsonFloat(f)
				}
				o = append(o, jsonField{c, v})
			}
		}
		byProvider := map[string]jsonFloat{}
		for p, h := range s.OverflowByProvider {
			byProvider[p] = jsonFloat(h)
		}
		commitments = append(commitments, append(o, jsonField{"overflow_by_provider", byProvider}))
	}
	daily := []jsonDaily{}
	for _, d := range r.Daily {
		daily = append(daily, jsonDaily{Day: d.Day.Format(time.DateOnly), Provider: d.Provider, GPUs: d.GPUs,
			ProvisionedGPUHours: jsonFloat(d.ProvisionedHours), BusyGPUHours: jsonFloat(d.BusyHours),
			Efficiency: jsonFloat(d.Efficiency()), EnergyKWh: jsonFloat(d.EnergyKWh)})
	}
	teams := []jsonTeam{}
	for _, u := range r.Teams {
		teams = append(teams, jsonTeam{Team: u.Team, Provider: u.Provider, CommitmentID: u.CommitmentID,
			GPUHours: jsonFloat(u.GPUHours), BusyGPUHours: jsonFloat(u.BusyGPUHours),
			BusyKnownGPUHours: jsonFloat(u.BusyKnownGPUHours), BusyShare: jsonFloat(u.BusyShare()),
			Cost: jsonFloat(u.Cost), Currency: u.Currency})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		At          string       `json:"at"`
		Database    string       `json:"database"`
		Commitments []jsonObject `json:"commitments"`
		Daily       []jsonDaily  `json:"daily"`
		Teams       []jsonTeam   `json:"teams"`
		ROFR        *jsonROFR    `json:"rofr,omitempty"`
	}{formatRFC3339(r.At), r.Database, commitments, daily, teams, rofrJSON(r.ROFR)})
}
