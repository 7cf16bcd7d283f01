package figures

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Status is one commitment's figures at a moment. Amounts are in the commitment's unit: GPU-hours for capacity and
// usage commitments, money for spend ones. Definitions: schema/README.md, "Commitment figures".
type Status struct {
	ID, Name, Provider, Kind, Unit, Team string
	Quantity                             float64
	TermStart, TermEnd                   time.Time
	TermHours, HoursElapsed, HoursLeft   float64

	CommitmentTotal          float64
	CommittedToDate          float64
	UsedToDate               float64
	Utilization              float64
	ShortfallToDate          float64
	RateLinear, Rate7d       float64
	ForecastLinear           float64
	Forecast7d               float64
	ProjectedShortfallLinear float64
	ProjectedShortfall7d     float64
	RequiredRate             float64

	UsedGPUHours       float64
	OverflowGPUHours   float64
	LeakageGPUHours    float64
	Leakage24hGPUHours float64
	Efficiency         float64
	// OverflowByProvider splits OverflowGPUHours by provider.
	OverflowByProvider map[string]float64

	// Money (schema/README.md, "Money"): overflow and leakage at the on-demand price cards, in MoneyCurrency ("" when
	// the file has no prices; GPU-hours without a price card cost 0); UnusedValue is the shortfall to date as money,
	// in UnusedValueCurrency (a spend commitment's own currency; a capacity or usage commitment's at its
	// CommittedPrice, "" and 0 without one).
	OverflowCost        float64
	LeakageCost         float64
	Leakage24hCost      float64
	UnusedValue         float64
	MoneyCurrency       string
	UnusedValueCurrency string
	CommittedPrice      float64

	AlertProjectedShortfallPct float64
	AlertMinUtilizationPct     float64
	AlertMaxLeakageGPUHours24h float64
	// AlertExhaustionDays is the exhaustion alert's threshold (commitment.Thresholds.ExhaustionDays); the evaluator
	// sets it from the loaded commitments (commitment_settings), the SQL figures do not carry it.
	AlertExhaustionDays float64
}

// Commitments reads every current commitment's figures as of at, over the complete hours of its term before at, from
// the commitment views (queries/commitment_figures.sql), which read the hourly rollup only.
func Commitments(ctx context.Context, conn driver.Conn, db string, at time.Time) ([]Status, error) {
	q, err := chschema.Query("commitment_figures", map[string]string{"DB": db, "At": chschema.DateTime(at)})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query commitment figures from %s: %w", db, err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var s Status
		var hoursElapsed uint64
		if err := rows.Scan(&s.ID, &s.Name, &s.Provider, &s.Kind, &s.Unit, &s.Quantity, &s.TermStart, &s.TermEnd, &s.Team,
			&s.TermHours, &hoursElapsed, &s.HoursLeft, &s.CommitmentTotal, &s.CommittedToDate, &s.UsedToDate,
			&s.Utilization, &s.ShortfallToDate, &s.RateLinear, &s.Rate7d, &s.ForecastLinear, &s.Forecast7d,
			&s.ProjectedShortfallLinear, &s.ProjectedShortfall7d, &s.RequiredRate, &s.UsedGPUHours,
			&s.OverflowGPUHours, &s.LeakageGPUHours, &s.Leakage24hGPUHours, &s.Efficiency,
			&s.AlertProjectedShortfallPct, &s.AlertMinUtilizationPct, &s.AlertMaxLeakageGPUHours24h); err != nil {
			return nil, fmt.Errorf("read commitment figures: %w", err)
		}
		s.HoursElapsed = float64(hoursElapsed)
		s.OverflowByProvider = map[string]float64{}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read commitment figures: %w", err)
	}
	byID := map[string]*Status{}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	if q, err = chschema.Query("commitment_overflow_by_provider", map[string]string{"DB": db, "At": chschema.DateTime(at)}); err != nil {
		return nil, err
	}
	orows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query overflow by provider: %w", err)
	}
	defer orows.Close()
	for orows.Next() {
		var id, provider string
		var hours float64
		if err := orows.Scan(&id, &provider, &hours); err != nil {
			return nil, fmt.Errorf("read overflow by provider: %w", err)
		}
		if s, ok := byID[id]; ok {
			s.OverflowByProvider[provider] = hours
		}
	}
	if err := orows.Err(); err != nil {
		return nil, fmt.Errorf("read overflow by provider: %w", err)
	}
	return out, readMoney(ctx, conn, db, at, byID)
}

// readMoney sets the money figures (queries/commitment_money.sql) of the commitments in byID.
func readMoney(ctx context.Context, conn driver.Conn, db string, at time.Time, byID map[string]*Status) error {
	q, err := chschema.Query("commitment_money", map[string]string{"DB": db, "At": chschema.DateTime(at)})
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query commitment money from %s: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, unit string
		var m Status
		if err := rows.Scan(&id, &kind, &unit, &m.CommittedPrice, &m.MoneyCurrency, &m.OverflowCost, &m.LeakageCost,
			&m.Leakage24hCost, &m.UnusedValue, &m.UnusedValueCurrency); err != nil {
			return fmt.Errorf("read commitment money: %w", err)
		}
		if s, ok := byID[id]; ok {
			s.CommittedPrice, s.MoneyCurrency, s.OverflowCost, s.LeakageCost = m.CommittedPrice, m.MoneyCurrency, m.OverflowCost, m.LeakageCost
			s.Leakage24hCost, s.UnusedValue, s.UnusedValueCurrency = m.Leakage24hCost, m.UnusedValue, m.UnusedValueCurrency
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read commitment money: %w", err)
	}
	return nil
}

// Unreachable reports whether a capacity commitment can no longer be met in full: the rate it needs from now on is
// more GPU-hours per hour than its N GPUs can use (schema/README.md, required_rate).
func Unreachable(s Status) bool {
	return s.Kind == "capacity" && s.HoursLeft > 0 && s.RequiredRate > s.Quantity+1e-9
}

// HoursToExhaustion is how many hours from the start of the current hour a usage or spend commitment consumed faster
// than its pace has left at the trailing 7-day rate, when it runs out before its term ends; ok is false otherwise.
func HoursToExhaustion(s Status) (hours float64, ok bool) {
	if s.Kind == "capacity" || s.HoursLeft <= 0 || s.Rate7d <= 0 || s.Forecast7d <= s.CommitmentTotal {
		return 0, false
	}
	hours = math.Max(s.CommitmentTotal-s.UsedToDate, 0) / s.Rate7d
	return hours, hours < s.HoursLeft
}

// ExhaustionAt is when a usage or spend commitment consumed faster than its pace runs out at the trailing 7-day
// rate: the start of the hour after at plus (commitment_total − used_to_date) / rate_7d hours, when that falls before
// the term's end; ok is false otherwise (a reservation never runs out, and a slower pace never reaches the total).
func ExhaustionAt(s Status, at time.Time) (t time.Time, ok bool) {
	h, ok := HoursToExhaustion(s)
	if !ok {
		return time.Time{}, false
	}
	return at.UTC().Truncate(time.Hour).Add(time.Duration(h * float64(time.Hour))).Truncate(time.Minute), true
}
