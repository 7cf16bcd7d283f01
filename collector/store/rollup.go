package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// maxPeriodsPerStatement bounds one hour or day recomputation statement, so a replayed week of backlog becomes
// several modest queries rather than one huge one.
const maxPeriodsPerStatement = 48

// touchedNodes is the external table (sent with the statement, as 18.16's native protocol allows) that names the
// nodes whose node-hours a statement rebuilds: a batch can touch tens of thousands of nodes, more than a literal list
// may hold (max_query_size, max_ast_elements) and slow for the server to parse. One statement per hour reads that
// hour's index once.
const touchedNodes = "touched_nodes"

// NodeHour is one node's hour: the unit in which the rollups are rebuilt from raw data.
type NodeHour struct {
	Node string
	Hour time.Time // start of the hour, UTC
}

// Touched returns the distinct node-hours that rows fall in, sorted by hour, then node.
func Touched(rows []Row) []NodeHour {
	out := make([]NodeHour, 0, len(rows)/8+1)
	for i := range rows {
		out = append(out, nodeHourOf(&rows[i]))
	}
	return uniqueNodeHours(out)
}

func nodeHourOf(r *Row) NodeHour {
	return NodeHour{Node: r.Node, Hour: r.IntervalStart.UTC().Truncate(time.Hour)}
}

// Pending collects the node-hours of batches written with WriteRaw whose rollups are not recomputed yet, so that a
// consumer can recompute each node-hour once for many batches (schema/README.md, "Rollups"): it calls Flush before it
// commits the batches' offsets, so a crash in between redelivers them and they are recomputed again. The zero value
// is empty and ready; it is not safe for concurrent use.
type Pending struct {
	set      map[NodeHour]struct{}
	added    int64 // raw rows noted since the last recomputation
	lastRead int64 // rows the last recomputation read
}

// Add notes the node-hours rows fall in.
func (p *Pending) Add(rows []Row) {
	if p.set == nil {
		p.set = map[NodeHour]struct{}{}
	}
	var last NodeHour
	for i := range rows {
		// A node's GPUs come one after the other, all in one hour: one map insert for the run.
		if nh := nodeHourOf(&rows[i]); i == 0 || nh != last {
			p.set[nh] = struct{}{}
			last = nh
		}
	}
	p.added += int64(len(rows))
}

// Len is the number of node-hours waiting.
func (p *Pending) Len() int { return len(p.set) }

// Added is the number of raw rows noted since the last recomputation (Done).
func (p *Pending) Added() int64 { return p.added }

// LastRead is the number of rows the last recomputation read, as ClickHouse reported them (0 before the first): what
// the next one will read at least when it touches the same node-hours, since a node-hour is rebuilt whole.
func (p *Pending) LastRead() int64 { return p.lastRead }

// Done forgets the waiting node-hours once their recomputation succeeded, noting the rows it read.
func (p *Pending) Done(read int64) {
	clear(p.set)
	p.added, p.lastRead = 0, read
}

// Flush recomputes the waiting node-hours and forgets them once that succeeded; on error they stay, to retry. Its
// errors concern no row: Classify never calls them Rejected.
func (s *Store) Flush(ctx context.Context, p *Pending) error {
	if p.Len() == 0 {
		return nil
	}
	touched := make([]NodeHour, 0, len(p.set))
	for nh := range p.set {
		touched = append(touched, nh)
	}
	var read atomic.Int64
	ctx = clickhouse.Context(ctx, clickhouse.WithProgress(func(pr *clickhouse.Progress) { read.Add(int64(pr.Rows)) }))
	if err := s.Recompute(ctx, touched); err != nil {
		return rollupError{err}
	}
	p.Done(read.Load())
	return nil
}

// Recompute rebuilds the rollups (schema/README.md, "Rollups") for the given node-hours: each node-hour from
// deduplicated raw data, then each of their hours for the fleet from its node-hours, then each of their days from
// its hours. Running it twice, or concurrently from two collectors, leaves the same rows, and a run that saw newer
// data always wins over one that saw older data, whatever order they finish in.
func (s *Store) Recompute(ctx context.Context, touched []NodeHour) error {
	touched = uniqueNodeHours(touched)
	if len(touched) == 0 {
		return nil
	}
	var hours []time.Time
	for i := 0; i < len(touched); {
		hour := touched[i].Hour
		nodes, err := ext.NewTable(touchedNodes, ext.Column("node", "String"))
		if err != nil {
			return fmt.Errorf("recompute node-hours of %s: %w", hour.Format(time.DateTime), err)
		}
		j := i
		for ; j < len(touched) && touched[j].Hour.Equal(hour); j++ {
			if err := nodes.Append(touched[j].Node); err != nil {
				return fmt.Errorf("recompute node-hours of %s: node %q: %w", hour.Format(time.DateTime), touched[j].Node, err)
			}
		}
		hours = append(hours, hour)
		err = s.exec(clickhouse.Context(ctx, clickhouse.WithExternalTable(nodes)), "rollup_node_hours", map[string]string{
			"DB": s.db, "From": chschema.DateTime(hour), "To": chschema.DateTime(hour.Add(time.Hour)), "Nodes": touchedNodes})
		if err != nil {
			return fmt.Errorf("recompute %d node-hours of %s: %w", j-i, hour.Format(time.DateTime), err)
		}
		i = j
	}
	for chunk := range slices.Chunk(hours, maxPeriodsPerStatement) {
		if err := s.exec(ctx, "rollup_hours", map[string]string{"DB": s.db, "Hours": literals(chunk, chschema.DateTime)}); err != nil {
			return fmt.Errorf("recompute %d hours from %s: %w", len(chunk), chunk[0].Format(time.DateTime), err)
		}
	}
	days := uniqueTruncated(hours, 24*time.Hour)
	for chunk := range slices.Chunk(days, maxPeriodsPerStatement) {
		err := s.exec(ctx, "rollup_days", map[string]string{"DB": s.db, "From": chschema.DateTime(chunk[0]),
			"To": chschema.DateTime(chunk[len(chunk)-1].Add(24 * time.Hour)), "Days": literals(chunk, chschema.Date)})
		if err != nil {
			return fmt.Errorf("recompute %d days from %s: %w", len(chunk), chunk[0].Format(time.DateOnly), err)
		}
	}
	return nil
}

func (s *Store) exec(ctx context.Context, query string, data map[string]string) error {
	q, err := chschema.Query(query, data)
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	return nil
}

func literals(ts []time.Time, literal func(time.Time) string) string {
	list := make([]string, len(ts))
	for i, t := range ts {
		list[i] = literal(t)
	}
	return strings.Join(list, ", ")
}

func uniqueNodeHours(in []NodeHour) []NodeHour {
	out := make([]NodeHour, len(in))
	for i, nh := range in {
		out[i] = NodeHour{Node: nh.Node, Hour: nh.Hour.UTC().Truncate(time.Hour)}
	}
	slices.SortFunc(out, func(a, b NodeHour) int {
		return cmp.Or(a.Hour.Compare(b.Hour), strings.Compare(a.Node, b.Node))
	})
	return slices.CompactFunc(out, func(a, b NodeHour) bool { return a.Hour.Equal(b.Hour) && a.Node == b.Node })
}

// uniqueTruncated returns the distinct starts of the periods of length d that contain ts, sorted.
func uniqueTruncated(ts []time.Time, d time.Duration) []time.Time {
	out := make([]time.Time, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Truncate(d)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}
