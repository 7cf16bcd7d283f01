//go:build faults

package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/schema"
)

var scenarios = []scenario{
	{
		name: "kafka-outage", what: "the Kafka broker is stopped mid-run and started again: agents spool, the collector reconnects",
		duration: 4 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.25)
			// The collector must be consuming too (on a fresh broker its first group join waits for the offsets
			// topic, a few seconds), or the outage would only hit the agents.
			r.waitInserted(r.live[0])
			r.requireAgentsRunning("before stopping Kafka")
			r.res.note("Kafka stopping at %s, down for 4 s of wall time after it stopped", r.progress())
			r.svc.stop("kafka")
			time.Sleep(4 * time.Second)
			r.svc.start("kafka")
			r.res.note("Kafka back at %s", r.progress())
		},
		verify: func(r *run) {
			failed := 0
			for _, n := range r.nodes {
				for _, p := range r.agents[n.name] {
					failed += int(p.metric("gpumeter_agent_send_errors_total"))
				}
			}
			r.res.note("agents counted %d failed sends (records stayed spooled and were resent)", failed)
			if failed == 0 {
				r.t.Errorf("no agent counted a failed send: the outage did not reach the agents")
			}
		},
	},
	{
		name: "collector-kill", what: "the collector is killed (-9) twice mid-run and restarted each time",
		duration: 6 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			for _, frac := range []float64{0.3, 0.6} {
				r.at(frac)
				c := r.live[0]
				r.waitInserted(c)
				r.killCollector(c)
				r.live = append(r.live, r.startCollector())
			}
		},
		verify: func(r *run) {
			for _, c := range r.collectors {
				r.res.note("%s stored %d rows", c.name, inserted(c))
			}
		},
	},
	{
		name: "clickhouse-outage", what: "ClickHouse is stopped mid-run and started again: the collector retries and commits nothing unwritten",
		duration: 4 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.3)
			r.waitInserted(r.live[0])
			r.requireAgentsRunning("before stopping ClickHouse")
			r.res.note("ClickHouse stopping at %s, down for 4 s of wall time after it stopped", r.progress())
			r.svc.stop("clickhouse")
			time.Sleep(4 * time.Second)
			r.svc.start("clickhouse")
			r.res.note("ClickHouse back at %s", r.progress())
		},
		verify: func(r *run) {
			failed := 0
			for _, c := range r.collectors {
				failed += int(c.metric("gpumeter_collector_insert_errors_total"))
			}
			r.res.note("the collectors counted %d failed inserts (retried, offsets held back)", failed)
			if failed == 0 {
				r.t.Errorf("the collector counted no failed insert: the outage did not reach it")
			}
		},
	},
	{
		name: "agent-kill", what: "an agent is killed (-9) mid-run, while Kafka is down so that its spool holds records, " +
			"and restarted on the same spool directory: it resumes the checkpoint's open windows and sends the spool " +
			"once Kafka is back",
		// 360x and a 100 ms checkpoint period: the periodic checkpoint (~100 ms × 360 + 10 s ≈ 46 s of virtual time)
		// usually comes before the interval's own (60 s), so both kinds are exercised.
		duration: 3 * time.Hour, speed: 360, collectors: 1, checkpointPeriod: 100 * time.Millisecond, metricsNode0: true,
		fault: func(r *run) {
			r.at(0.3)
			r.requireAgentsRunning("before killing an agent")
			r.res.note("Kafka stopping at %s, so that the agents spool what they close", r.progress())
			r.svc.stop("kafka")
			time.Sleep(time.Second)
			// Down for a second; the restarted agent meets Kafka still down and keeps spooling until it is back.
			r.killAgent(r.nodes[0], func() { time.Sleep(time.Second) })
			r.svc.start("kafka")
			r.res.note("Kafka back at %s", r.progress())
		},
		verify: func(r *run) {
			n := r.nodes[0]
			ps := r.agents[n.name]
			restarted := ps[len(ps)-1]
			if restarted.count("resumed from checkpoint") == 0 {
				r.t.Errorf("%s did not resume from the checkpoint", restarted.name)
			}
			pending, _ := restarted.field("msg=opened component=spool", "pending_entries")
			resumed, _ := restarted.field("resumed from checkpoint", "pending_records")
			r.res.note("%s found %s records in the spool and %s pending records in the checkpoint", restarted.name, pending, resumed)
			if pending == "" || pending == "0" {
				r.t.Errorf("%s found no records in the spool of the killed agent (pending_entries=%q): the spool resume was not exercised",
					restarted.name, pending)
			}
		},
	},
	{
		name: "two-collectors", what: "two collectors share a consumer group; one is killed (-9) mid-run",
		duration: 6 * time.Hour, speed: 720, collectors: 2,
		fault: func(r *run) {
			r.at(0.35)
			c := r.live[0]
			r.waitInserted(c)
			r.killCollector(c)
		},
		verify: func(r *run) {
			for _, c := range r.collectors {
				r.res.note("%s stored %d rows", c.name, inserted(c))
			}
		},
	},
	{
		name: "poison", what: "garbage, an unknown version, a >1 MiB message and an invalid record are produced onto the topic mid-run",
		duration: 4 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.4)
			r.requireAgentsRunning("before producing poison")
			msgs := poison()
			ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
			defer cancel()
			if err := produce(ctx, r.topic, msgs...); err != nil {
				r.t.Fatalf("produce poison: %v", err)
			}
			for _, m := range msgs {
				r.res.note("poison %s: %d bytes", m.Key, len(m.Value))
			}
			r.res.note("poison produced at %s", r.progress())
		},
		verify: func(r *run) {
			if want := len(poison()); r.res.deadLettered != want {
				r.t.Errorf("%d messages dead-lettered, want the %d poison messages", r.res.deadLettered, want)
			}
		},
	},
}

// poison is what a broken or hostile producer might write onto the usage topic. None of it is a valid record.
func poison() []kafka.Message {
	garbage := make([]byte, 256)
	_, _ = rand.Read(garbage)
	garbage[0] = 0xff // never valid JSON

	rec := schema.Record{Version: 1, Node: "poison-node", Provider: "azure", GPUUUID: "GPU-poison", GPUModel: "NVIDIA H100 80GB HBM3",
		IntervalStart: simStart, IntervalEnd: simStart.Add(interval), WindowStart: simStart, WindowEnd: simStart.Add(interval),
		ProvisionedSeconds: 60, Samples: 6}
	good, err := schema.Encode(&rec)
	if err != nil {
		panic(err)
	}
	v9 := bytes.Replace(good, []byte(`"v":1`), []byte(`"v":9`), 1)
	rec.ProvisionedSeconds = 120 // twice the window: breaks a rule
	invalid, err := schema.Encode(&rec)
	if err != nil {
		panic(err)
	}
	huge := []byte(`{"v":1,"node":"poison-huge","pad":"` + strings.Repeat("x", 3<<19) + `"}`) // 1.5 MiB, no gpu_uuid

	return []kafka.Message{
		{Key: []byte("poison-garbage"), Value: garbage},
		{Key: []byte("poison-v9"), Value: v9},
		{Key: []byte("poison-huge"), Value: huge},
		{Key: []byte("poison-invalid"), Value: invalid},
	}
}

// TestFaults runs every scenario in turn against the suite's own Kafka and ClickHouse, then prints the summary.
func TestFaults(t *testing.T) {
	start := time.Now()
	svc := startServices(t)
	var results []*result
	for _, sc := range scenarios {
		res := &result{name: sc.name, verdict: "FAIL"}
		ran := false
		t0 := time.Now()
		ok := t.Run(sc.name, func(t *testing.T) {
			ran = true
			runScenario(t, svc, sc, res)
		})
		if !ran { // -run filtered it out
			continue
		}
		if ok {
			res.verdict = "PASS"
		}
		res.note("wall time %s", time.Since(t0).Round(100*time.Millisecond))
		results = append(results, res)
	}
	out := table(results) + fmt.Sprintf("fault suite: %s of wall time\n", time.Since(start).Round(time.Second))
	t.Log(out)
	fmt.Println(out)
}
