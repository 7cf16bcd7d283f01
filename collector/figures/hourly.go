package figures

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Usage is one row of the hourly rollup: one hour × provider, region, instance type, account, GPU model and team.
type Usage struct {
	Hour                                      time.Time
	Provider, Region, InstanceType, Account   string
	GPUModel, Team                            string
	GPUHours, BusyGPUHours, BusyKnownGPUHours float64
	EnergyKWh                                 float64
}

// HourlyUsage streams the hourly rollup's rows for the hours in [from, to) to fn, ordered by hour, then provider,
// region, instance type, account, GPU model and team (queries/usage_hourly.sql). It stops at fn's first error and
// returns it as it is.
func HourlyUsage(ctx context.Context, conn driver.Conn, db string, from, to time.Time, fn func(Usage) error) error {
	q, err := chschema.Query("usage_hourly", map[string]string{"DB": db, "From": chschema.DateTime(from), "To": chschema.DateTime(to)})
	if err != nil {
		return err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query %s.gpu_usage_hourly: %w", db, err)
	}
	defer rs.Close()
	for rs.Next() {
		var u Usage
		if err := rs.Scan(&u.Hour, &u.Provider, &u.Region, &u.InstanceType, &u.Account, &u.GPUModel, &u.Team,
			&u.GPUHours, &u.BusyGPUHours, &u.BusyKnownGPUHours, &u.EnergyKWh); err != nil {
			return fmt.Errorf("read %s.gpu_usage_hourly: %w", db, err)
		}
		u.Hour = u.Hour.UTC()
		if err := fn(u); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read %s.gpu_usage_hourly: %w", db, err)
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
