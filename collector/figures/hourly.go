package figures

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Usage is the share of one row of the hourly rollup (one hour × provider, region, instance type, account, GPU model
// and team) that one commitment covers, or that none covers (CommitmentID empty): the allocation of schema/README.md
// ("Allocation"), which every figure shares.
type Usage struct {
	Hour                                      time.Time
	Provider, Region, InstanceType, Account   string
	GPUModel, Team                            string
	CommitmentID                              string // "" when no commitment covers these GPU-hours
	GPUHours, BusyGPUHours, BusyKnownGPUHours float64
	EnergyKWh                                 float64
	Price                                     float64 // per GPU-hour at a spend commitment's rate card; 0 otherwise
	// OnDemandPrice is what one of these GPU-hours costs at the on-demand price cards, in OnDemandCurrency (0 and ""
	// without a price card): paid for an uncovered GPU-hour, the list price of a covered one.
	OnDemandPrice    float64
	OnDemandCurrency string
}

// HourlyUsage streams the allocated hourly usage for the hours in [from, to) to fn, ordered by hour, then provider,
// region, instance type, account, GPU model, team and commitment (queries/usage_allocated_hourly.sql). It stops at
// fn's first error and returns it as it is.
func HourlyUsage(ctx context.Context, conn driver.Conn, db string, from, to time.Time, fn func(Usage) error) error {
	q, err := chschema.Query("usage_allocated_hourly", map[string]string{"DB": db, "From": chschema.DateTime(from), "To": chschema.DateTime(to)})
	if err != nil {
		return err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query %s.commitment_allocation_hourly: %w", db, err)
	}
	defer rs.Close()
	for rs.Next() {
		var u Usage
		if err := rs.Scan(&u.Hour, &u.Provider, &u.Region, &u.InstanceType, &u.Account, &u.GPUModel, &u.Team,
			&u.CommitmentID, &u.GPUHours, &u.BusyGPUHours, &u.BusyKnownGPUHours, &u.EnergyKWh, &u.Price,
			&u.OnDemandPrice, &u.OnDemandCurrency); err != nil {
			return fmt.Errorf("read %s.commitment_allocation_hourly: %w", db, err)
		}
		u.Hour = u.Hour.UTC()
		if err := fn(u); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read %s.commitment_allocation_hourly: %w", db, err)
	}
	return nil
}

// UnusedHour is one commitment's hour with something left unused. Amounts are in the commitment's unit: GPU-hours
// (capacity, usage) or money (spend).
type UnusedHour struct {
	ID                      string
	Hour                    time.Time
	Kind, Provider, Unit    string
	Committed, Used, Unused float64
}

// UnusedHours reads every commitment hour in [from, to) that left more than eps unused, ordered by hour and
// commitment (queries/commitment_unused_hourly.sql).
func UnusedHours(ctx context.Context, conn driver.Conn, db string, from, to time.Time, eps float64) ([]UnusedHour, error) {
	q, err := chschema.Query("commitment_unused_hourly", map[string]string{"DB": db, "From": chschema.DateTime(from),
		"To": chschema.DateTime(to), "Eps": strconv.FormatFloat(eps, 'g', -1, 64)})
	if err != nil {
		return nil, err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query %s.commitment_hourly: %w", db, err)
	}
	defer rs.Close()
	var out []UnusedHour
	for rs.Next() {
		var u UnusedHour
		if err := rs.Scan(&u.ID, &u.Hour, &u.Kind, &u.Provider, &u.Unit, &u.Committed, &u.Used, &u.Unused); err != nil {
			return nil, fmt.Errorf("read %s.commitment_hourly: %w", db, err)
		}
		u.Hour = u.Hour.UTC()
		out = append(out, u)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read %s.commitment_hourly: %w", db, err)
	}
	return out, nil
}
