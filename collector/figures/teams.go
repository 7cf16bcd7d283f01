package figures

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// TeamUsage is one team's GPU-hours on one provider under one commitment (CommitmentID "" when none covered them),
// with what they cost in Currency (schema/README.md, "Money"; Cost 0 and Currency "" where no price applies).
type TeamUsage struct {
	Team, Provider, CommitmentID, Currency    string
	GPUHours, BusyGPUHours, BusyKnownGPUHours float64
	Cost                                      float64
}

// BusyShare is the rows' busy share (BusyShare).
func (u TeamUsage) BusyShare() float64 { return BusyShare(u.BusyGPUHours, u.BusyKnownGPUHours) }

// Teams reads the allocation per team, provider, commitment and currency over the hours in [from, to), ordered so
// (queries/usage_by_team.sql).
func Teams(ctx context.Context, conn driver.Conn, db string, from, to time.Time) ([]TeamUsage, error) {
	if !to.After(from) {
		return nil, nil
	}
	q, err := chschema.Query("usage_by_team", map[string]string{"DB": db, "From": chschema.DateTime(from), "To": chschema.DateTime(to)})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query usage by team from %s.commitment_allocation_hourly: %w", db, err)
	}
	defer rows.Close()
	var out []TeamUsage
	for rows.Next() {
		var u TeamUsage
		if err := rows.Scan(&u.Team, &u.Provider, &u.CommitmentID, &u.Currency, &u.GPUHours, &u.BusyGPUHours,
			&u.BusyKnownGPUHours, &u.Cost); err != nil {
			return nil, fmt.Errorf("read usage by team: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage by team: %w", err)
	}
	return out, nil
}
