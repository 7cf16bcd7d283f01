package consume

import (
	"context"
	"fmt"

	"github.com/gpumeter/gpumeter/collector/store"
)

// rejection is a row ClickHouse refused for good, by its index in the rows given to insert.
type rejection struct {
	row int
	err error
}

// insert stores rows, waiting out whatever can heal. When the server rejects the batch because of its rows, the
// batch is bisected until the offending rows stand alone: those are returned, to be dead-lettered, and every other row
// is stored. It returns an error only when ctx ends (shutdown), leaving the batch for redelivery.
func (c *Consumer) insert(ctx context.Context, rows []store.Row) ([]rejection, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	err := c.retrying(ctx, func(ctx context.Context) error { return c.write(ctx, rows) }, len(rows))
	if err == nil {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	// Rejected for good.
	if len(rows) == 1 {
		return []rejection{{0, fmt.Errorf("clickhouse rejected the record: %w", err)}}, nil
	}
	if c.Stats.Rejected.Load() == 0 {
		c.log.Warn("clickhouse rejected a batch because of its rows; bisecting it to set the offending rows aside",
			"rows", len(rows), "err", err)
	}
	mid := len(rows) / 2
	left, err := c.insert(ctx, rows[:mid])
	if err != nil {
		return nil, err
	}
	right, err := c.insert(ctx, rows[mid:])
	if err != nil {
		return nil, err
	}
	for _, r := range right {
		left = append(left, rejection{r.row + mid, r.err})
	}
	return left, nil
}

// write stores rows: raw only when the store defers the rollups to flushAndCommit, else raw and rollups.
func (c *Consumer) write(ctx context.Context, rows []store.Row) error {
	if c.deferrer != nil {
		return c.deferrer.WriteRaw(ctx, rows)
	}
	return c.deps.Store.Insert(ctx, rows)
}

// retrying runs op until it succeeds, is rejected for good because of its rows (returned), or ctx ends (returned).
// rows is how many rows op writes; 0 (a rollup flush) concerns no row, so nothing is ever rejected. A too-many-parts
// refusal of a single row heals with time, so it is retried rather than returned.
func (c *Consumer) retrying(ctx context.Context, op func(context.Context) error, rows int) error {
	b := newBackoff(c.cfg.MaxBackoff)
	for {
		err := op(ctx)
		if err == nil {
			c.health.clear(condClickHouse)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("insert into clickhouse: gave up at shutdown, batch left uncommitted for redelivery: %w", err)
		}
		c.Stats.InsertErrors.Add(1)
		failure := store.Classify(err)
		if failure == store.Rejected && rows > 0 && !(rows == 1 && store.IsTooManyParts(err)) {
			return err
		}
		wait := b.next()
		switch failure {
		case store.Missing:
			reason := store.Reason(err)
			c.health.set(condClickHouse, "cannot write: missing in clickhouse: "+reason)
			c.log.Error("insert into clickhouse failed: a table or the database is missing; re-running the migrations",
				"missing", reason, "attempt", b.attempt)
			if c.deps.Repair != nil {
				c.Stats.Repairs.Add(1)
				if rerr := c.deps.Repair(ctx); rerr != nil {
					c.log.Error("re-running the migrations failed; retrying", "backoff", wait, "err", rerr)
				} else {
					c.log.Warn("migrations re-run; retrying the insert", "backoff", wait)
				}
			}
		case store.Refused:
			c.health.set(condClickHouse, "cannot write: clickhouse refuses: "+store.Reason(err))
			c.log.Error("insert into clickhouse failed for a reason only an operator can fix; retrying so nothing is lost",
				"attempt", b.attempt, "backoff", wait, "err", err)
		default:
			c.health.set(condClickHouse, "cannot write: clickhouse unavailable: "+err.Error())
			c.log.Warn("insert into clickhouse failed; retrying", "attempt", b.attempt, "backoff", wait, "err", err)
		}
		sleep(ctx, wait)
	}
}
