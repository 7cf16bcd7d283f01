package figures

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

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

// Commitments reads every current commitment's figures as of at, over the complete hours of its term before at, with
// their money, from the commitment views (queries/commitment_figures.sql), which read the hourly rollup only.
func Commitments(ctx context.Context, conn driver.Conn, db string, at time.Time) ([]Status, error) {
	out, _, err := readCommitments(ctx, conn, db, at, false)
	return out, err
}

// CommitmentsAndSeries is Commitments with every commitment's cumulative committed and used amounts hour by hour,
// what the report's charts draw, read in the same statement (so a series ends at its commitment's CommittedToDate
// and UsedToDate). 18.16 has no window functions: the running sums are made here.
func CommitmentsAndSeries(ctx context.Context, conn driver.Conn, db string, at time.Time) ([]Status, map[string]Series, error) {
	return readCommitments(ctx, conn, db, at, true)
}

func readCommitments(ctx context.Context, conn driver.Conn, db string, at time.Time, withSeries bool) ([]Status, map[string]Series, error) {
	// The overflow by provider is another statement over the allocation: it runs beside the figures.
	var overflow map[string]map[string]float64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		overflow, err = overflowByProvider(gctx, conn, db, at)
		return err
	})
	out, series, err := readFigures(ctx, conn, db, at, withSeries)
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return nil, nil, err
	}
	for i := range out {
		if o := overflow[out[i].ID]; o != nil {
			out[i].OverflowByProvider = o
		}
	}
	return out, series, nil
}

// readFigures reads queries/commitment_figures.sql, with the series when withSeries.
func readFigures(ctx context.Context, conn driver.Conn, db string, at time.Time, withSeries bool) ([]Status, map[string]Series, error) {
	params := map[string]string{"DB": db, "At": chschema.DateTime(at), "Series": ""}
	if withSeries {
		params["Series"] = "1"
	}
	q, err := chschema.Query("commitment_figures", params)
	if err != nil {
		return nil, nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("query commitment figures from %s: %w", db, err)
	}
	defer rows.Close()
	var out []Status
	var series map[string]Series
	if withSeries {
		series = map[string]Series{}
	}
	for rows.Next() {
		var s Status
		var hoursElapsed uint64
		var hours []time.Time
		var committed, used []float64
		dest := []any{&s.ID, &s.Name, &s.Provider, &s.Kind, &s.Unit, &s.Quantity, &s.TermStart, &s.TermEnd, &s.Team,
			&s.TermHours, &hoursElapsed, &s.HoursLeft, &s.CommitmentTotal, &s.CommittedToDate, &s.UsedToDate,
			&s.Utilization, &s.ShortfallToDate, &s.RateLinear, &s.Rate7d, &s.ForecastLinear, &s.Forecast7d,
			&s.ProjectedShortfallLinear, &s.ProjectedShortfall7d, &s.RequiredRate, &s.UsedGPUHours,
			&s.OverflowGPUHours, &s.LeakageGPUHours, &s.Leakage24hGPUHours, &s.Efficiency,
			&s.AlertProjectedShortfallPct, &s.AlertMinUtilizationPct, &s.AlertMaxLeakageGPUHours24h,
			&s.CommittedPrice, &s.MoneyCurrency, &s.OverflowCost, &s.LeakageCost, &s.Leakage24hCost, &s.UnusedValue,
			&s.UnusedValueCurrency}
		if withSeries {
			dest = append(dest, &hours, &committed, &used)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, fmt.Errorf("read commitment figures: %w", err)
		}
		s.HoursElapsed = float64(hoursElapsed)
		s.OverflowByProvider = map[string]float64{}
		out = append(out, s)
		if withSeries && len(hours) > 0 {
			series[s.ID] = cumulative(s.ID, hours, committed, used)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read commitment figures: %w", err)
	}
	return out, series, nil
}

// overflowByProvider reads each commitment's overflow GPU-hours by provider (queries/commitment_overflow_by_provider.sql).
func overflowByProvider(ctx context.Context, conn driver.Conn, db string, at time.Time) (map[string]map[string]float64, error) {
	q, err := chschema.Query("commitment_overflow_by_provider", map[string]string{"DB": db, "At": chschema.DateTime(at)})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query overflow by provider: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	for rows.Next() {
		var id, provider string
		var hours float64
		if err := rows.Scan(&id, &provider, &hours); err != nil {
			return nil, fmt.Errorf("read overflow by provider: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]float64{}
		}
		out[id][provider] = hours
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read overflow by provider: %w", err)
	}
	return out, nil
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
