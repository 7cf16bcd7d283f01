package figures

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Series is one commitment's cumulative committed and used amounts hour by hour, what the charts draw.
type Series struct {
	Commitment string
	Points     []SeriesPoint // one per complete hour of the term up to at, ordered by time
}

// SeriesPoint is the cumulative committed and used amounts, in the commitment's unit, at the end of the hour
// that starts at Hour.
type SeriesPoint struct {
	Hour                  time.Time
	CommittedCum, UsedCum float64
}

// CommitmentSeries reads every commitment's cumulative committed and used amounts per hour from commitment_hourly,
// over the complete hours of its term before at (the hours Commitments sums, so a series ends at that commitment's
// CommittedToDate and UsedToDate). 18.16 has no window functions: the running sums are made here.
func CommitmentSeries(ctx context.Context, conn driver.Conn, db string, at time.Time) (map[string]Series, error) {
	q, err := chschema.Query("commitment_series", map[string]string{"DB": db, "At": chschema.DateTime(at)})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query commitment series from %s: %w", db, err)
	}
	defer rows.Close()
	out := map[string]Series{}
	for rows.Next() {
		var id string
		var hour time.Time
		var committed, used float64
		if err := rows.Scan(&id, &hour, &committed, &used); err != nil {
			return nil, fmt.Errorf("read commitment series: %w", err)
		}
		s := out[id]
		s.Commitment = id
		p := SeriesPoint{Hour: hour.UTC(), CommittedCum: committed, UsedCum: used}
		if n := len(s.Points); n > 0 {
			p.CommittedCum += s.Points[n-1].CommittedCum
			p.UsedCum += s.Points[n-1].UsedCum
		}
		s.Points = append(s.Points, p)
		out[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read commitment series: %w", err)
	}
	return out, nil
}
