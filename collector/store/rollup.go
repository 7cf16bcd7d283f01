package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// maxHoursPerStatement bounds one recomputation statement, so a replayed week of backlog becomes several modest
// queries rather than one huge one.
const maxHoursPerStatement = 48

// Recompute rebuilds the hourly rollup for the given hours and the daily rollup for their days, from deduplicated
// raw data. Running it twice, or concurrently from two collectors, leaves the same rows (schema/README.md).
func (s *Store) Recompute(ctx context.Context, hours []time.Time) error {
	hours = uniqueTruncated(hours, time.Hour)
	for chunk := range slices.Chunk(hours, maxHoursPerStatement) {
		if err := s.recompute(ctx, "rollup_hourly", "Hours", chunk, time.Hour, chschema.DateTime); err != nil {
			return err
		}
	}
	days := uniqueTruncated(hours, 24*time.Hour)
	for chunk := range slices.Chunk(days, maxHoursPerStatement) {
		if err := s.recompute(ctx, "rollup_daily", "Days", chunk, 24*time.Hour, chschema.Date); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) recompute(ctx context.Context, query, listKey string, starts []time.Time, step time.Duration,
	literal func(time.Time) string) error {
	list := make([]string, len(starts))
	for i, t := range starts {
		list[i] = literal(t)
	}
	q, err := chschema.Query(query, map[string]string{
		"DB":    s.db,
		"From":  chschema.DateTime(starts[0]),
		"To":    chschema.DateTime(starts[len(starts)-1].Add(step)),
		listKey: strings.Join(list, ", "),
	})
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("recompute %s for %d periods from %s: %w", query, len(starts), starts[0].Format(time.DateTime), err)
	}
	return nil
}

// uniqueTruncated returns the distinct starts of the periods of length d that contain ts, sorted.
func uniqueTruncated(ts []time.Time, d time.Duration) []time.Time {
	seen := map[int64]bool{}
	var out []time.Time
	for _, t := range ts {
		u := t.UTC().Truncate(d)
		if !seen[u.Unix()] {
			seen[u.Unix()] = true
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}
