//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/agent"
	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/schema"
)

// Every agent simulates a DGX H100 (8 GPUs) sampled every 10 s into 1-minute intervals, starting at simStart (aligned
// to the hour, so every GPU's uninterrupted run of D gives D/interval full-minute records).
const (
	gpusPerNode  = 8
	samplePeriod = 10 * time.Second
	interval     = time.Minute
	partitions   = 4 // of the topics the collectors create; one simulated node per partition
)

var simStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// Generous bounds that turn a hang into a clear failure; nothing asserts how fast anything is.
const (
	collectorReadyTimeout = 90 * time.Second
	agentsGrace           = 3 * time.Minute  // beyond the simulated run's wall time
	drainStall            = 60 * time.Second // stored count unchanged this long: the collectors are stuck
	drainTimeout          = 4 * time.Minute
	sigtermTimeout        = 60 * time.Second
)

type nodeSpec struct{ name, provider, region, instanceType string }

// scenario is one scripted fault.
type scenario struct {
	name       string
	what       string
	duration   time.Duration // simulated time each agent meters
	speed      float64       // --sim-speed
	collectors int
	// checkpointPeriod is the agents' --checkpoint-period (0: the default, 10s).
	checkpointPeriod time.Duration
	// metricsNode0 was how node 0's first agent got a /metrics address; every agent has one now (the checks read
	// counters there, not log lines), so it changes nothing.
	metricsNode0 bool
	// topicRecreated: the topic holds only what was produced after the fault recreated it, so the collectors must
	// store every record the agents measured, more than the topic holds.
	topicRecreated bool
	// fault runs once every agent has started; verify runs after the truth check, for the scenario's own evidence.
	fault, verify func(r *run)
}

// agentKill is what the agent-kill scenario learned about one node's killed agent.
type agentKill struct {
	s1, s2, end time.Time
	// kLo is a lower bound of K, the virtual time of the killed process's last sample: the samples counter read from
	// its /metrics right before the kill -9 (K itself is lost with the process).
	kLo time.Time
	// checkpoint is each GPU's last sample in the checkpoint the killed process left: what a restart resumes from.
	checkpoint map[string]time.Time
	acked      int64 // records the killed process had had acknowledged when last seen
	// stopped: the process was stopped cleanly (SIGTERM or the end of its --duration), not killed, so its checkpoint
	// holds exactly its last sample (scenarios that restart an agent under other conditions).
	stopped bool
}

// result is one scenario's row of the summary table.
type result struct {
	name                         string
	sent                         int // distinct valid records the agents delivered to the topic
	onTopic                      int // every message on the topic: resends and poison included
	acked                        int64
	stored, rawRows              uint64
	deadLettered, deadLetterMsgs int
	truth, storedSeconds         float64
	allowed                      float64
	verdict                      string
	notes                        []string
}

func (res *result) note(format string, args ...any) {
	res.notes = append(res.notes, fmt.Sprintf(format, args...))
}

// run is one scenario in progress.
type run struct {
	t   *testing.T
	sc  scenario
	svc *services
	res *result
	dir string

	topic, dlq, group, db string
	nodes                 []nodeSpec
	spoolDirs             map[string]string
	agents                map[string][]*proc // per node, in start order
	metricsAddr           map[*proc]string
	collectors            []*proc // every collector started
	live                  []*proc // collectors that should be running at the end
	kills                 map[string]*agentKill
	// dropped is the GPU-seconds a node's agents reported losing (a full disk, a damaged spool): that node must
	// store exactly what it measured minus these, and is checked as a whole, not GPU by GPU.
	dropped map[string]float64
	// agentArgs are extra flags for a node's agents.
	agentArgs map[string][]string
	launched  time.Time
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fleet gives a scenario four nodes on three providers, each on its own partition (the agents key by node name
// with kafka-go's Hash balancer), so two collectors in a group both get work.
func fleet(short string) []nodeSpec {
	bases := []nodeSpec{
		{"az-" + short + "-a", "azure", "eastus", "Standard_ND96isr_H100_v5"},
		{"az-" + short + "-b", "azure", "eastus", "Standard_ND96isr_H100_v5"},
		{"oci-" + short, "oracle_cloud", "us-ashburn-1", "BM.GPU.H100.8"},
		{"aws-" + short, "aws", "us-east-1", "p5.48xlarge"},
	}
	for i := range bases {
		base := bases[i].name
		for k := 0; ; k++ {
			name := fmt.Sprintf("%s-%d", base, k)
			if partitionOf(name, partitions) == i%partitions {
				bases[i].name = name
				break
			}
		}
	}
	return bases
}

func runScenario(t *testing.T, svc *services, sc scenario, res *result) {
	suffix := randomSuffix()
	short := strings.ReplaceAll(sc.name, "-", "")
	dir := t.TempDir()
	if os.Getenv("GPUMETER_FAULTS_KEEP") != "" {
		var err error
		if dir, err = os.MkdirTemp("", "gpumeter-faults-"+sc.name+"-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("GPUMETER_FAULTS_KEEP is set: logs and spools of this scenario stay in %s", dir)
	}
	r := &run{t: t, sc: sc, svc: svc, res: res, dir: dir,
		topic: "faults." + sc.name + "." + suffix + ".usage", dlq: "faults." + sc.name + "." + suffix + ".dlq",
		group: "faults-" + sc.name + "-" + suffix, db: "faults_" + short + "_" + suffix,
		nodes: fleet(short), spoolDirs: map[string]string{}, agents: map[string][]*proc{},
		metricsAddr: map[*proc]string{}, kills: map[string]*agentKill{}, dropped: map[string]float64{},
		agentArgs: map[string][]string{}}
	t.Cleanup(r.dumpLogsOnFailure)
	t.Logf("scenario %s: %s; topic %s, dead letters %s, group %s, database %s; %d agents metering %s each at %gx, %d collector(s)",
		sc.name, sc.what, r.topic, r.dlq, r.group, r.db, len(r.nodes), sc.duration, sc.speed, sc.collectors)

	// Whatever an earlier scenario left behind, both services run now (a no-op when they do).
	svc.start("clickhouse")
	svc.start("kafka")

	for range sc.collectors {
		r.live = append(r.live, r.startCollector())
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	n, err := topicPartitions(ctx, r.topic)
	cancel()
	if err != nil {
		t.Fatalf("topic %s never appeared (the collector creates it): %v", r.topic, err)
	}
	if n != partitions {
		t.Fatalf("topic %s has %d partitions, want %d (--topic-partitions)", r.topic, n, partitions)
	}

	r.launched = time.Now()
	for i, node := range r.nodes {
		dir := filepath.Join(r.dir, "spool-"+node.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		r.spoolDirs[node.name] = dir
		metrics := ""
		if i == 0 && sc.metricsNode0 {
			metrics = freeAddr(t)
		}
		r.startAgent(node, simStart, sc.duration, metrics)
	}
	if sc.fault != nil {
		sc.fault(r)
	}

	r.waitAgents()
	valid, invalid := r.readTopic()
	want := len(valid)
	if sc.topicRecreated {
		want = len(r.nodes) * gpusPerNode * int(sc.duration/interval)
	}
	r.waitStored(want)
	r.stopCollectors()
	r.checkOffsets()
	r.checkDeadLetters(invalid)
	r.checkTruth(valid)
	var rows int64
	for _, c := range r.collectors {
		rows += inserted(c)
	}
	res.note("the collectors reported %d rows inserted for %d records: at least %d stored more than once (redelivery), "+
		"collapsed by identity in gpu_usage", rows, res.stored, max(0, rows-int64(res.stored)))
	if sc.verify != nil {
		sc.verify(r)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// processes

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (r *run) wallRun() time.Duration {
	return time.Duration(float64(r.sc.duration) / r.sc.speed)
}

// at sleeps until frac of the simulated run's wall time has passed since the agents started.
func (r *run) at(frac float64) {
	d := time.Until(r.launched.Add(time.Duration(frac * float64(r.wallRun()))))
	if d > 0 {
		time.Sleep(d)
	}
}

func (r *run) progress() string {
	return fmt.Sprintf("%.0f%% of the run", 100*time.Since(r.launched).Seconds()/r.wallRun().Seconds())
}

func (r *run) startAgent(n nodeSpec, start time.Time, d time.Duration, metricsAddr string) *proc {
	if metricsAddr == "" {
		metricsAddr = freeAddr(r.t)
	}
	ckpt := r.sc.checkpointPeriod
	if ckpt == 0 {
		ckpt = 10 * time.Second
	}
	args := []string{
		"--simulate=dgxh100", "--sim-util=constant:0.6", "--sim-start=" + start.Format(time.RFC3339),
		"--sim-speed=" + strconv.FormatFloat(r.sc.speed, 'f', -1, 64), "--duration=" + d.String(),
		"--sample-period=" + samplePeriod.String(), "--interval=" + interval.String(), "--checkpoint-period=" + ckpt.String(),
		"--spool-dir=" + r.spoolDirs[n.name], "--metrics-addr=" + metricsAddr,
		"--kafka-brokers=" + kafkaAddr, "--topic=" + r.topic,
		"--provider=" + n.provider, "--region=" + n.region, "--instance-type=" + n.instanceType, "--node-name=" + n.name,
	}
	args = append(args, r.agentArgs[n.name]...)
	k := len(r.agents[n.name])
	p := startProc(r.t, fmt.Sprintf("agent %s #%d", n.name, k+1),
		filepath.Join(r.dir, fmt.Sprintf("agent-%s-%d.log", n.name, k+1)), agentBin, args...)
	r.agents[n.name] = append(r.agents[n.name], p)
	r.metricsAddr[p] = metricsAddr
	p.watchMetrics(metricsAddr)
	return p
}

func (r *run) startCollector() *proc {
	r.t.Helper()
	k := len(r.collectors) + 1
	metricsAddr := freeAddr(r.t)
	p := startProc(r.t, fmt.Sprintf("collector #%d", k), filepath.Join(r.dir, fmt.Sprintf("collector-%d.log", k)),
		collectorBin,
		"--kafka-brokers="+kafkaAddr, "--topic="+r.topic, "--dlq-topic="+r.dlq, "--group="+r.group,
		"--clickhouse-addr="+clickhouseAddr, "--clickhouse-database="+r.db, "--metrics-addr="+metricsAddr,
		"--batch-wait=500ms", "--topic-partitions="+strconv.Itoa(partitions), "--shutdown-timeout=10s",
		// debug: one "batch inserted rows=N" line per batch, for the logs a failure dumps.
		"--log-level=debug")
	p.watchMetrics(metricsAddr)
	r.collectors = append(r.collectors, p)
	r.metricsAddr[p] = metricsAddr
	if err := p.waitLog(collectorReadyTimeout, "collector consuming"); err != nil {
		r.t.Fatalf("%v\n%s", err, p.tail(40))
	}
	return p
}

// inserted is how many rows a collector has stored, from its /metrics (the last value read, if it ended).
func inserted(p *proc) int64 { return int64(p.metric("gpumeter_collector_records_inserted_total")) }

// waitInserted waits until collector p has stored at least one batch, so that killing it hits a working member.
func (r *run) waitInserted(p *proc) {
	r.t.Helper()
	if err := p.waitFor(2*time.Minute, "stored batch", func() bool { return inserted(p) > 0 }); err != nil {
		r.t.Fatalf("%v\n%s", err, p.tail(40))
	}
}

// killCollector kill -9s a live collector and forgets it.
func (r *run) killCollector(p *proc) {
	p.kill()
	for i, q := range r.live {
		if q == p {
			r.live = append(r.live[:i], r.live[i+1:]...)
			break
		}
	}
	r.res.note("%s killed (-9) at %s after storing %d rows", p.name, r.progress(), inserted(p))
	r.t.Logf("%s killed with SIGKILL at %s (%s)", p.name, r.progress(), p.exitDesc())
}

func (r *run) requireAgentsRunning(when string) {
	r.t.Helper()
	for _, n := range r.nodes {
		ps := r.agents[n.name]
		if !ps[len(ps)-1].running() {
			r.t.Fatalf("%s: %s has already ended, so the fault would not hit a running fleet", when, ps[len(ps)-1].name)
		}
	}
}

// waitAgents waits for every node's last agent to end by itself (--duration), having flushed its spool.
func (r *run) waitAgents() {
	r.t.Helper()
	deadline := r.launched.Add(r.wallRun() + agentsGrace)
	for _, n := range r.nodes {
		ps := r.agents[n.name]
		p := ps[len(ps)-1]
		if !p.wait(time.Until(deadline)) {
			r.t.Fatalf("%s still runs %s after its simulated run should have ended (%s of wall time); log tail:\n%s",
				p.name, agentsGrace, r.wallRun(), p.tail(30))
		}
		if code := p.exitCode(); code != 0 {
			r.t.Errorf("%s exited with %s, want 0; log tail:\n%s", p.name, p.exitDesc(), p.tail(30))
		}
		if spooled, ok := p.field("agent stopped", "still_spooled"); !ok || spooled != "0" {
			r.t.Errorf("%s: still_spooled=%q (found %v) in its \"agent stopped\" line, want 0: it should flush everything before it exits",
				p.name, spooled, ok)
		}
		for _, q := range ps {
			r.res.acked += q.sumField("agent stopped", "sent")
		}
	}
	for _, k := range r.kills {
		r.res.acked += k.acked
	}
	r.t.Logf("every agent ended at %s", r.progress())
}

// stopCollectors SIGTERMs the live collectors: each must flush, commit and exit 0.
func (r *run) stopCollectors() {
	r.t.Helper()
	for _, p := range r.live {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range r.live {
		if !p.wait(sigtermTimeout) {
			r.t.Errorf("%s did not exit within %s of SIGTERM; log tail:\n%s", p.name, sigtermTimeout, p.tail(30))
			p.kill()
			continue
		}
		if code := p.exitCode(); code != 0 {
			r.t.Errorf("%s exited with %s after SIGTERM, want 0; log tail:\n%s", p.name, p.exitDesc(), p.tail(30))
		}
	}
}

func (r *run) dumpLogsOnFailure() {
	if !r.t.Failed() {
		return
	}
	var all []*proc
	for _, n := range r.nodes {
		all = append(all, r.agents[n.name]...)
	}
	all = append(all, r.collectors...)
	for _, p := range all {
		r.t.Logf("----- %s: last lines of %s -----\n%s", p.name, p.logPath, p.tail(40))
	}
}

// ---------------------------------------------------------------------------------------------------------------
// what the agents delivered, what was stored

type identity struct {
	node, gpu, namespace, pod string
	windowStart               int64 // seconds: ClickHouse's DateTime
}

// readTopic reads back everything on the usage topic: the distinct valid records (by identity) and the messages
// that are not valid records. Two copies of one identity must be identical.
func (r *run) readTopic() (map[identity]schema.Record, []kafka.Message) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 2*time.Minute)
	defer cancel()
	msgs, _, err := readTopic(ctx, r.topic)
	if err != nil {
		r.t.Fatalf("read back topic %s: %v", r.topic, err)
	}
	valid := map[identity]schema.Record{}
	var invalid []kafka.Message
	conflicts := 0
	now := time.Now() // what the collector judges future records by (schema.MaxFuture)
	for _, m := range msgs {
		rec, err := schema.DecodeAt(m.Value, now)
		if err != nil {
			invalid = append(invalid, m)
			continue
		}
		id := identity{rec.Node, rec.GPUUUID, rec.Namespace, rec.Pod, rec.WindowStart.Unix()}
		if prev, ok := valid[id]; ok {
			if prev.ProvisionedSeconds != rec.ProvisionedSeconds || !prev.WindowEnd.Equal(rec.WindowEnd) {
				conflicts++
				if conflicts <= 5 {
					r.t.Errorf("two different records share the identity %+v: window_end %s / %s, provisioned %g / %g",
						id, prev.WindowEnd, rec.WindowEnd, prev.ProvisionedSeconds, rec.ProvisionedSeconds)
				}
			}
			continue
		}
		valid[id] = rec
	}
	r.res.sent, r.res.onTopic = len(valid), len(msgs)
	r.t.Logf("topic %s: %d messages, %d distinct valid records, %d not valid records", r.topic, len(msgs), len(valid), len(invalid))
	if conflicts > 0 {
		r.t.Errorf("%d identities with differing copies on the topic", conflicts)
	}
	return valid, invalid
}

// waitStored waits until gpu_usage holds want distinct records; no progress for drainStall means stuck.
func (r *run) waitStored(want int) {
	r.t.Helper()
	start := time.Now()
	var last uint64
	lastChange := time.Now()
	var lastErr error
	for {
		rows, distinct, raw, err := storedCounts(r.t.Context(), r.db)
		if err == nil {
			r.res.stored, r.res.rawRows = distinct, raw
			if rows != distinct {
				r.t.Errorf("gpu_usage shows %d rows for %d distinct identities: a duplicate is visible to analysts", rows, distinct)
				return
			}
			if distinct >= uint64(want) {
				r.t.Logf("gpu_usage holds %d distinct records (usage_raw %d rows) %s after the agents ended",
					distinct, raw, time.Since(start).Round(10*time.Millisecond))
				if distinct > uint64(want) {
					r.t.Errorf("gpu_usage holds %d distinct records, more than the %d on the topic", distinct, want)
				}
				return
			}
			if distinct != last {
				last, lastChange = distinct, time.Now()
			}
		} else {
			lastErr = err
		}
		if time.Since(lastChange) > drainStall || time.Since(start) > drainTimeout {
			r.t.Errorf("the collectors stopped storing: gpu_usage holds %d of the %d records on the topic, unchanged for %s "+
				"(last query error: %v)", last, want, time.Since(lastChange).Round(time.Second), lastErr)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkOffsets: after the collectors exited, the group has committed every partition to its end.
func (r *run) checkOffsets() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
	defer cancel()
	_, ends, err := readTopic(ctx, r.topic)
	if err != nil {
		r.t.Errorf("offsets of %s: %v", r.topic, err)
		return
	}
	ids := make([]int, 0, len(ends))
	for p := range ends {
		ids = append(ids, p)
	}
	sort.Ints(ids)
	committed, err := committedOffsets(ctx, r.group, r.topic, ids)
	if err != nil {
		r.t.Errorf("committed offsets of group %s: %v", r.group, err)
		return
	}
	for _, p := range ids {
		end := ends[p]
		if end.last > end.first && committed[p] != end.last {
			r.t.Errorf("group %s committed offset %d on %s/%d, want the end %d: %d messages left uncommitted",
				r.group, committed[p], r.topic, p, end.last, end.last-committed[p])
		}
	}
}

// checkDeadLetters: the dead-letter topic holds exactly the messages on the usage topic that are not valid records,
// each once by its source coordinates, with a reason.
func (r *run) checkDeadLetters(invalid []kafka.Message) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
	defer cancel()
	msgs, _, err := readTopic(ctx, r.dlq)
	if err != nil {
		r.t.Errorf("read dead-letter topic %s: %v", r.dlq, err)
		return
	}
	want := map[string][]byte{} // source coordinates → the original value
	for _, m := range invalid {
		want[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = m.Value
	}
	got := map[string]string{}
	for _, m := range msgs {
		h := map[string]string{}
		for _, kv := range m.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[consume.HeaderTopic] != r.topic {
			r.t.Errorf("dead letter at %d/%d names source topic %q, want %q", m.Partition, m.Offset, h[consume.HeaderTopic], r.topic)
		}
		src := h[consume.HeaderPartition] + "/" + h[consume.HeaderOffset]
		got[src] = h[consume.HeaderError]
		orig, ok := want[src]
		if !ok {
			r.t.Errorf("dead letter for %s/%s (%d bytes, reason %q) is not one of the invalid messages on the topic",
				r.topic, src, len(m.Value), h[consume.HeaderError])
			continue
		}
		// The value is the original byte for byte, or (when too big for the dead-letter topic) its beginning, with
		// the original size in a header.
		if size, cut := h[consume.HeaderTruncated]; cut {
			if size != strconv.Itoa(len(orig)) || len(m.Value) >= len(orig) || !bytes.Equal(m.Value, orig[:len(m.Value)]) {
				r.t.Errorf("dead letter for %s/%s: truncated to %d bytes from %q, but the original has %d bytes (prefix kept: %v)",
					r.topic, src, len(m.Value), size, len(orig), bytes.HasPrefix(orig, m.Value))
			} else {
				r.res.note("dead letter for %s: %d of %d bytes kept (%s header)", src, len(m.Value), len(orig), consume.HeaderTruncated)
			}
		} else if !bytes.Equal(m.Value, orig) {
			r.t.Errorf("dead letter for %s/%s: %d bytes that differ from the original %d bytes", r.topic, src, len(m.Value), len(orig))
		}
	}
	for src := range want {
		reason, ok := got[src]
		if !ok {
			r.t.Errorf("invalid message %s/%s never reached the dead-letter topic", r.topic, src)
			continue
		}
		r.t.Logf("dead letter for %s: %s", src, reason)
	}
	r.res.deadLettered, r.res.deadLetterMsgs = len(got), len(msgs)
}

// checkTruth compares the GPU-seconds in gpu_usage, per GPU, node and provider, with what the agents measured.
//
// An agent that runs undisturbed from S to S+D measures exactly D per GPU (its first sample opens the window, its
// last closes it at S+D; virtual time is stepped exactly), so the truth is 8·D per node and nothing less may be stored.
//
// A node whose agent was killed (-9) at virtual time K (its last sample) and restarted at S2 with the same spool
// directory measured (K−S1) + (E−S2) per GPU. The restart resumes from the last checkpoint, whose last sample is C ≤ K,
// so exactly (C−S1) + (E−S2) is stored per GPU; what is lost is K−C. The agent checkpoints before it spools the
// records of every interval it closes, i.e. at every interval boundary, and also every --checkpoint-period of wall
// time (about --checkpoint-period × --sim-speed + one sample period of virtual time, but only while the process keeps
// pace with its virtual clock), so K−C ≤ the interval for certain. Bound: loss per GPU ≤ interval; the downtime
// S2−K was measured by nobody and is part of neither the truth nor the stored figure.
func (r *run) checkTruth(valid map[identity]schema.Record) {
	r.t.Helper()
	// exact: the sum over the node's GPUs of what each must store (for a node that reported losses).
	type sums struct{ truth, stored, topic, allowed, exact float64 }
	perNode := map[string]*sums{}
	perProvider := map[string]*sums{}
	providerOf := map[string]string{}
	for _, n := range r.nodes {
		perNode[n.name] = &sums{}
		providerOf[n.name] = n.provider
	}
	for _, rec := range valid {
		if s, ok := perNode[rec.Node]; ok {
			s.topic += rec.ProvisionedSeconds
		} else {
			r.t.Errorf("record of unknown node %q on the topic", rec.Node)
		}
	}
	rows, err := storedPerGPU(r.t.Context(), r.db)
	if err != nil {
		r.t.Fatalf("query gpu_usage: %v", err)
	}
	gpus := map[string]int{}
	mismatch := map[string][]string{} // per node: GPUs whose stored seconds or records are off
	for _, u := range rows {
		s, ok := perNode[u.node]
		if !ok {
			r.t.Errorf("gpu_usage holds node %q, which no agent ran", u.node)
			continue
		}
		if u.provider != providerOf[u.node] {
			r.t.Errorf("gpu_usage: node %s has provider %q, want %q", u.node, u.provider, providerOf[u.node])
		}
		gpus[u.node]++
		s.stored += u.seconds
		if _, lost := r.dropped[u.node]; lost {
			if k, killed := r.kills[u.node]; killed {
				if c, ok := k.checkpoint[u.gpu]; ok {
					s.exact += c.Sub(k.s1).Seconds() + k.end.Sub(k.s2).Seconds()
				}
			} else {
				s.exact += r.sc.duration.Seconds()
			}
			continue
		}
		if k, killed := r.kills[u.node]; killed {
			c, ok := k.checkpoint[u.gpu]
			if !ok {
				mismatch[u.node] = append(mismatch[u.node], fmt.Sprintf("GPU %s is not in the checkpoint the killed agent left", u.gpu))
				continue
			}
			if want := c.Sub(k.s1).Seconds() + k.end.Sub(k.s2).Seconds(); u.seconds != want {
				mismatch[u.node] = append(mismatch[u.node], fmt.Sprintf(
					"GPU %s: stored %.3f s, want exactly %.0f s = (checkpoint %s − start %s) + (end %s − restart %s)",
					u.gpu, u.seconds, want, c.Format(time.TimeOnly), k.s1.Format(time.TimeOnly),
					k.end.Format(time.TimeOnly), k.s2.Format(time.TimeOnly)))
			}
			continue
		}
		want, wantRecords := r.sc.duration.Seconds(), uint64(r.sc.duration/interval)
		if u.seconds != want || u.records != wantRecords {
			mismatch[u.node] = append(mismatch[u.node], fmt.Sprintf(
				"GPU %s: stored %.3f s in %d records, want exactly %.0f s in %d (one per interval)",
				u.gpu, u.seconds, u.records, want, wantRecords))
		}
	}
	for _, n := range r.nodes {
		if m := mismatch[n.name]; len(m) > 0 {
			r.t.Errorf("node %s: %d of its GPUs are off, e.g. %s", n.name, len(m), m[0])
		}
	}
	for _, n := range r.nodes {
		s := perNode[n.name]
		if gpus[n.name] != gpusPerNode {
			r.t.Errorf("node %s: %d GPUs in gpu_usage, want %d", n.name, gpus[n.name], gpusPerNode)
		}
		if k, killed := r.kills[n.name]; killed {
			// K ≥ kLo (read before the kill) and K ≥ every GPU's checkpointed sample.
			kMeas := k.kLo
			for _, c := range k.checkpoint {
				if c.After(kMeas) {
					kMeas = c
				}
			}
			per := kMeas.Sub(k.s1).Seconds() + k.end.Sub(k.s2).Seconds()
			s.truth = gpusPerNode * per
			if !k.stopped { // a clean stop loses nothing
				s.allowed = gpusPerNode * interval.Seconds()
			}
			maxLoss := 0.0
			for gpu, c := range k.checkpoint {
				loss := kMeas.Sub(c)
				maxLoss = math.Max(maxLoss, loss.Seconds())
				if loss > interval {
					r.t.Errorf("node %s GPU %s: the checkpoint's last sample %s is %s behind the killed agent's last known sample %s, more than one interval (%s)",
						n.name, gpu, c.Format(time.TimeOnly), loss, kMeas.Format(time.TimeOnly), interval)
				}
			}
			if k.stopped {
				r.res.note("%s: stopped cleanly with its last sample at virtual %s, restarted at virtual %s", n.name,
					latest(k.checkpoint).Format(time.TimeOnly), k.s2.Format(time.TimeOnly))
			} else {
				r.res.note("%s: killed -9 with its last sample K ≥ virtual %s (from its /metrics just before), last checkpoint C at %s, "+
					"restarted at virtual %s; lost per GPU K−C ≥ %.0f s (measured), ≤ %.0f s (guaranteed); downtime ≤ %s measured by nobody",
					n.name, kMeas.Format(time.TimeOnly), latest(k.checkpoint).Format(time.TimeOnly),
					k.s2.Format(time.TimeOnly), maxLoss, interval.Seconds(), k.s2.Sub(kMeas))
			}
		} else {
			s.truth = gpusPerNode * r.sc.duration.Seconds()
		}
		if d, lost := r.dropped[n.name]; lost {
			if want := s.exact - d; s.stored != want {
				r.t.Errorf("node %s: stored %.3f GPU-s, want exactly %.3f = %.3f measured − %.3f its agents reported lost",
					n.name, s.stored, want, s.exact, d)
			}
			r.res.note("%s: its agents reported %.0f GPU-s lost (counted in their metrics); stored %.0f of %.0f measured",
				n.name, d, s.stored, s.truth)
			s.allowed += d
		}
		if s.topic != s.stored && !(r.sc.topicRecreated && s.stored >= s.topic) {
			r.t.Errorf("node %s: %.0f GPU-s on the topic (distinct records) but %.0f GPU-s in gpu_usage", n.name, s.topic, s.stored)
		}
		if s.stored > s.truth || s.truth-s.stored > s.allowed {
			r.t.Errorf("node %s: stored %.0f GPU-s, measured %.0f GPU-s: difference %.0f outside [0, %.0f]",
				n.name, s.stored, s.truth, s.truth-s.stored, s.allowed)
		}
		p := perProvider[n.provider]
		if p == nil {
			p = &sums{}
			perProvider[n.provider] = p
		}
		p.truth += s.truth
		p.stored += s.stored
		p.topic += s.topic
		p.allowed += s.allowed
		r.res.truth += s.truth
		r.res.storedSeconds += s.stored
		r.res.allowed += s.allowed
	}
	names := make([]string, 0, len(perProvider))
	for p := range perProvider {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		s := perProvider[p]
		r.t.Logf("provider %-13s measured %8.0f GPU-s  stored %8.0f GPU-s  on the topic %8.0f GPU-s  difference %5.0f (allowed %.0f)",
			p, s.truth, s.stored, s.topic, s.truth-s.stored, s.allowed)
	}
}

func latest(ts map[string]time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// scrapeCounter reads one sample of a counter from a Prometheus /metrics page.
func scrapeCounter(addr, name string) (float64, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s on http://%s/metrics", name, addr)
}

// killAgent kill -9s node's running agent mid-run, runs downtime (the agent is down meanwhile), and restarts it with
// the same spool directory at the virtual time its simulated machine has reached by then, for the rest of the run.
func (r *run) killAgent(n nodeSpec, downtime func()) {
	r.t.Helper()
	ps := r.agents[n.name]
	p := ps[len(ps)-1]
	addr := r.metricsAddr[p]
	if addr == "" {
		r.t.Fatalf("%s has no /metrics address", p.name)
	}
	cpPath := filepath.Join(r.spoolDirs[n.name], agent.CheckpointFile)
	if err := p.waitFor(time.Minute, "checkpoint", func() bool { _, err := os.Stat(cpPath); return err == nil }); err != nil {
		r.t.Fatal(err)
	}
	samples, err := scrapeCounter(addr, "gpumeter_agent_samples_total")
	if err != nil {
		r.t.Fatalf("%s: read progress: %v", p.name, err)
	}
	acked, _ := scrapeCounter(addr, "gpumeter_agent_records_acknowledged_total")
	p.kill()
	r.t.Logf("%s killed with SIGKILL at %s (%s) after %g samples", p.name, r.progress(), p.exitDesc(), samples)
	reads := int64(samples) / gpusPerNode
	if reads < 2 {
		r.t.Fatalf("%s had taken only %g samples when killed", p.name, samples)
	}
	k := &agentKill{s1: simStart, end: simStart.Add(r.sc.duration), acked: int64(acked), checkpoint: map[string]time.Time{},
		// the first read only opens the windows; read i (from 0) is at S1 + i·sample period.
		kLo: simStart.Add(time.Duration(reads-1) * samplePeriod)}
	cp, ok, err := agent.ReadCheckpoint(cpPath)
	if err != nil || !ok {
		r.t.Fatalf("the checkpoint the killed agent left: ok=%v err=%v", ok, err)
	}
	for _, g := range cp.GPUs {
		k.checkpoint[g.Last.GPU.UUID] = g.Last.Time.UTC()
	}
	if len(k.checkpoint) != gpusPerNode {
		r.t.Fatalf("the checkpoint holds %d GPUs, want %d", len(k.checkpoint), gpusPerNode)
	}
	r.t.Logf("checkpoint taken at virtual %s: %d GPUs, %d pending records", cp.Taken.Format(time.RFC3339), len(cp.GPUs), len(cp.Pending))
	downtime()
	// The simulated machine kept running: its virtual time now is at most S1 + (now − launch)·speed, which is past
	// anything the killed process sampled. Round up to the sampling grid so the rest of the run is whole samples.
	elapsed := time.Duration(float64(time.Since(p.started)) * r.sc.speed)
	k.s2 = simStart.Add((elapsed + samplePeriod - 1).Truncate(samplePeriod))
	if !k.s2.Before(k.end) {
		r.t.Fatalf("no simulated time left to restart %s in (restart at %s, run ends %s)", n.name, k.s2, k.end)
	}
	r.kills[n.name] = k
	r.startAgent(n, k.s2, k.end.Sub(k.s2), "")
}

// ---------------------------------------------------------------------------------------------------------------
// the table

func table(results []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-20s | %8s | %8s | %8s | %13s | %13s | %10s | %8s | %s\n", "scenario", "sent", "stored",
		"dead-ltr", "GPU-s truth", "GPU-s stored", "difference", "allowed", "verdict")
	b.WriteString(strings.Repeat("-", 20) + "-+-" + strings.Repeat("-", 8) + "-+-" + strings.Repeat("-", 8) + "-+-" +
		strings.Repeat("-", 8) + "-+-" + strings.Repeat("-", 13) + "-+-" + strings.Repeat("-", 13) + "-+-" +
		strings.Repeat("-", 10) + "-+-" + strings.Repeat("-", 8) + "-+--------\n")
	for _, r := range results {
		fmt.Fprintf(&b, "%-20s | %8d | %8d | %8d | %13.0f | %13.0f | %10.0f | %8.0f | %s\n", r.name, r.sent, r.stored,
			r.deadLettered, r.truth, r.storedSeconds, r.truth-r.storedSeconds, r.allowed, r.verdict)
	}
	b.WriteString("\nsent: distinct valid records the agents delivered to the topic; stored: distinct records in gpu_usage;\n" +
		"dead-ltr: distinct source messages in the dead-letter topic; truth: GPU-seconds the simulated agents measured;\n" +
		"allowed: the most a kill -9 of an agent may lose (one interval per GPU of the killed agent, see checkTruth).\n")
	for _, r := range results {
		fmt.Fprintf(&b, "%s: %d messages on the topic, agents acknowledged %d, usage_raw %d rows, %d dead-letter messages\n",
			r.name, r.onTopic, r.acked, r.rawRows, r.deadLetterMsgs)
		for _, n := range r.notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	return b.String()
}
