//go:build faults

package faults

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/schema"
)

// The reliability issue's item 7, end to end: records already on the topic are produced again with another team
// (the same identity) while the fleet runs. gpu_usage shows each record once, with its last team; the hourly and
// daily rollups must say exactly the same per team, with no group left behind (schema/README.md, "Rollups").
func init() {
	scenarios = append(scenarios, scenario{
		name: "resend-other-team", what: "the records of half of one node's GPUs are resent with another team mid-run: the rollups follow gpu_usage, no group counted twice",
		duration: 6 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.4)
			r.waitInserted(r.live[0])
			r.requireAgentsRunning("before the resend")
			msgs, _, err := readTopic(r.t.Context(), r.topic)
			if err != nil {
				r.t.Fatalf("read back topic %s: %v", r.topic, err)
			}
			node := r.nodes[0].name
			var resend []kafka.Message
			for _, m := range msgs {
				rec, err := schema.Decode(m.Value)
				if err != nil || rec.Node != node || rec.GPUIndex%2 == 0 {
					continue
				}
				rec.Team = "resent"
				v, err := schema.Encode(&rec)
				if err != nil {
					r.t.Fatal(err)
				}
				resend = append(resend, kafka.Message{Key: []byte(node), Value: v})
			}
			if len(resend) == 0 {
				r.t.Fatalf("no record of node %s on the topic at %s", node, r.progress())
			}
			if err := produce(r.t.Context(), r.topic, resend...); err != nil {
				r.t.Fatalf("resend %d records: %v", len(resend), err)
			}
			r.res.note("resent %d of node %s's records with team \"resent\" at %s", len(resend), node, r.progress())
		},
		verify: func(r *run) {
			perTeam := func(q string) map[string]float64 {
				out := map[string]float64{}
				err := chQuery(r.t.Context(), func(ctx context.Context, conn clickhouse.Conn) error {
					rows, err := conn.Query(ctx, fmt.Sprintf(q, r.db))
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
						var team string
						var seconds float64
						if err := rows.Scan(&team, &seconds); err != nil {
							return err
						}
						out[team] = seconds
					}
					return rows.Err()
				})
				if err != nil {
					r.t.Fatalf("%s: %v", q, err)
				}
				return out
			}
			raw := perTeam("SELECT team, sum(provisioned_seconds) FROM %s.gpu_usage GROUP BY team")
			if raw["resent"] == 0 {
				r.t.Errorf("gpu_usage holds no GPU-seconds of team \"resent\": the resend was not stored")
			}
			teams := make([]string, 0, len(raw))
			for team := range raw {
				teams = append(teams, team)
			}
			slices.Sort(teams)
			views := []string{"gpu_usage_hourly", "gpu_usage_daily"}
			rolled := map[string]map[string]float64{}
			for _, view := range views {
				got := perTeam("SELECT team, sum(provisioned_gpu_hours) * 3600 FROM %s." + view + " GROUP BY team")
				rolled[view] = got
				for team := range got {
					if _, ok := raw[team]; !ok {
						r.t.Errorf("%s holds team %q (%.0f GPU-s), which gpu_usage does not", view, team, got[team])
					}
				}
				for _, team := range teams {
					if math.Abs(got[team]-raw[team]) > 1e-6*raw[team] {
						r.t.Errorf("%s: team %q holds %.3f GPU-s, gpu_usage %.3f", view, team, got[team], raw[team])
					}
				}
			}
			for _, team := range teams {
				r.res.note("team %q: gpu_usage %.0f GPU-s, gpu_usage_hourly %.0f, gpu_usage_daily %.0f", team, raw[team],
					rolled[views[0]][team], rolled[views[1]][team])
			}
		},
	})
}
