package figures

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/collector/commitment"
	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// ROFR classes of an overflow GPU-hour (schema/README.md, "Right of first refusal").
const (
	ClassCovered   = "covered"   // within the GPUs and period a refusal released to that provider
	ClassLeakage   = "leakage"   // while a primary's commitment had idle room: no refusal can justify it
	ClassUncovered = "uncovered" // nothing releases it: ROFR exposure
)

// Pricer prices on-demand GPU-hours: the price per GPU-hour of provider's instanceType / gpuModel and its currency,
// ok false when it has no price. The commitments file's price cards are one; nil prices nothing.
type Pricer interface {
	OnDemand(provider, instanceType, gpuModel string) (price float64, currency string, ok bool)
}

// ROFRHour is one row of the classification: GPU-hours of one hour, overflow provider and GPU model in one class
// (and, for covered, the request whose release covers them).
type ROFRHour struct {
	Hour               time.Time
	Provider, GPUModel string
	Class, RequestID   string
	GPUHours           float64
	Cost               float64 // at the pricer's on-demand price; 0 when unpriced
	Currency           string
	Priced             bool
}

// ROFRRelease is one release of a request: what it let the provider run and how much of it covered overflow, over
// the complete hours before the figures' moment.
type ROFRRelease struct {
	RequestID, Provider, GPUModel, Status string
	GPUs, AcceptedGPUs, ReleaseGPUs       int
	From, To                              time.Time
	ReleasedGPUHours, UsedGPUHours        float64
}

// ROFRProvider sums one overflow provider's classes.
type ROFRProvider struct {
	Provider                                string
	Covered, Leakage, Uncovered             float64 // GPU-hours
	CoveredCost, LeakageCost, UncoveredCost float64 // at on-demand prices, in Currency
	Currency                                string
	Unpriced                                float64 // GPU-hours the pricer had no price for
}

// ROFR is the right-of-first-refusal figures at a moment.
type ROFR struct {
	Primary   commitment.Primary
	Hours     []ROFRHour // every classified row, by hour
	Releases  []ROFRRelease
	Providers []ROFRProvider
	// Exposure lists the uncovered rows, by hour: the hours someone must act on.
	Exposure []ROFRHour
	// Uncovered24h is the uncovered GPU-hours of the last 24 complete hours, by provider (the alert's figure).
	Uncovered24h map[string]float64
}

// ROFRFigures reads the classification (queries/rofr_overflow_hourly.sql) of the complete hours before at and the
// releases; ok is false when the live commitments file declares no primary.
func ROFRFigures(ctx context.Context, conn driver.Conn, db string, at time.Time, pricer Pricer) (ROFR, bool, error) {
	prim, ok, err := commitment.CurrentPrimary(ctx, conn, db)
	if err != nil || !ok {
		return ROFR{}, false, err
	}
	out := ROFR{Primary: prim, Uncovered24h: map[string]float64{}}
	to := at.UTC().Truncate(time.Hour)
	q, err := chschema.Query("rofr_overflow_hourly", map[string]string{"DB": db, "From": chschema.DateTime(time.Unix(0, 0)), "To": chschema.DateTime(to)})
	if err != nil {
		return out, false, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return out, false, fmt.Errorf("query %s.rofr_overflow_hourly: %w", db, err)
	}
	defer rows.Close()
	byProvider := map[string]*ROFRProvider{}
	for rows.Next() {
		var h ROFRHour
		if err := rows.Scan(&h.Hour, &h.Provider, &h.GPUModel, &h.Class, &h.RequestID, &h.GPUHours); err != nil {
			return out, false, fmt.Errorf("read %s.rofr_overflow_hourly: %w", db, err)
		}
		h.Hour = h.Hour.UTC()
		if pricer != nil {
			if price, cur, ok := pricer.OnDemand(h.Provider, "", h.GPUModel); ok {
				h.Cost, h.Currency, h.Priced = price*h.GPUHours, cur, true
			}
		}
		out.Hours = append(out.Hours, h)
		p := byProvider[h.Provider]
		if p == nil {
			p = &ROFRProvider{Provider: h.Provider}
			byProvider[h.Provider] = p
		}
		if !h.Priced {
			p.Unpriced += h.GPUHours
		} else if p.Currency == "" {
			p.Currency = h.Currency
		}
		switch h.Class {
		case ClassCovered:
			p.Covered += h.GPUHours
			p.CoveredCost += h.Cost
		case ClassLeakage:
			p.Leakage += h.GPUHours
			p.LeakageCost += h.Cost
		case ClassUncovered:
			p.Uncovered += h.GPUHours
			p.UncoveredCost += h.Cost
			out.Exposure = append(out.Exposure, h)
			if !h.Hour.Before(to.Add(-24 * time.Hour)) {
				out.Uncovered24h[h.Provider] += h.GPUHours
			}
		}
	}
	if err := rows.Err(); err != nil {
		return out, false, fmt.Errorf("read %s.rofr_overflow_hourly: %w", db, err)
	}
	for _, p := range byProvider {
		out.Providers = append(out.Providers, *p)
	}
	sort.Slice(out.Providers, func(i, j int) bool { return out.Providers[i].Provider < out.Providers[j].Provider })
	if out.Releases, err = rofrReleases(ctx, conn, db, at); err != nil {
		return out, false, err
	}
	return out, true, nil
}

func rofrReleases(ctx context.Context, conn driver.Conn, db string, at time.Time) ([]ROFRRelease, error) {
	q, err := chschema.Query("rofr_releases", map[string]string{"DB": db, "At": chschema.DateTime(at)})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query %s.rofr_releases_current: %w", db, err)
	}
	defer rows.Close()
	var out []ROFRRelease
	for rows.Next() {
		var (
			r                 ROFRRelease
			gpus, acc, relGPU uint32
		)
		if err := rows.Scan(&r.RequestID, &r.Provider, &r.GPUModel, &r.Status, &gpus, &acc, &relGPU, &r.From, &r.To,
			&r.ReleasedGPUHours, &r.UsedGPUHours); err != nil {
			return nil, fmt.Errorf("read %s.rofr_releases_current: %w", db, err)
		}
		r.GPUs, r.AcceptedGPUs, r.ReleaseGPUs = int(gpus), int(acc), int(relGPU)
		r.From, r.To = r.From.UTC(), r.To.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.rofr_releases_current: %w", db, err)
	}
	return out, nil
}

// Totals sums the providers' classes.
func (r ROFR) Totals() ROFRProvider {
	var t ROFRProvider
	for _, p := range r.Providers {
		t.Covered += p.Covered
		t.Leakage += p.Leakage
		t.Uncovered += p.Uncovered
		t.CoveredCost += p.CoveredCost
		t.LeakageCost += p.LeakageCost
		t.UncoveredCost += p.UncoveredCost
		t.Unpriced += p.Unpriced
		if t.Currency == "" {
			t.Currency = p.Currency
		}
	}
	return t
}
