//go:build faults

package faults

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/schema"
)

// oversizedCount records of oversizedBytes strings each: about 170 MiB, which the collector before field limits
// decoded, batched and stored (1.46 GB RSS for 28 records of 9 MB in issue 7).
const (
	oversizedCount = 24
	oversizedBytes = 7 << 20
	// maxCollectorRSS is the memory the Helm chart gives a collector (1 GiB).
	maxCollectorRSS = 1 << 30
)

func init() {
	scenarios = append(scenarios, scenario{
		name: "oversized-fields", what: fmt.Sprintf("%d records with %d MiB team, pod or provider strings are produced among "+
			"the agents' records, on their partitions: every good record is stored exactly, every oversized one "+
			"dead-lettered naming its field, and the collector stays within %d MiB", oversizedCount, oversizedBytes>>20, maxCollectorRSS>>20),
		duration: 3 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.3)
			r.requireAgentsRunning("before producing oversized records")
			ctx, cancel := context.WithTimeout(r.t.Context(), 2*time.Minute)
			defer cancel()
			msgs := oversized(r.nodes)
			// One at a time: the producer's batch limit (8 MiB) holds one of them.
			for _, m := range msgs {
				if err := produce(ctx, r.topic, m); err != nil {
					r.t.Fatalf("produce an oversized record: %v", err)
				}
			}
			r.res.note("%d oversized records (%d MiB strings) produced at %s", len(msgs), oversizedBytes>>20, r.progress())
			if err := waitMessages(ctx, r.dlq, len(msgs)); err != nil {
				r.t.Fatalf("the oversized records did not reach the dead-letter topic: %v\n%s", err, r.live[0].tail(20))
			}
			rss, err := peakRSS(r.live[0].pid())
			switch {
			case err != nil:
				r.res.note("peak RSS of %s not measured: %v", r.live[0].name, err)
			case rss > maxCollectorRSS:
				r.t.Errorf("%s reached %d MiB of RSS after dead-lettering the oversized records, over the %d MiB a collector gets",
					r.live[0].name, rss>>20, maxCollectorRSS>>20)
			default:
				r.res.note("%s peak RSS %d MiB once the oversized records were dead-lettered (limit %d MiB)",
					r.live[0].name, rss>>20, maxCollectorRSS>>20)
			}
		},
		verify: func(r *run) {
			if r.res.deadLettered != oversizedCount {
				r.t.Errorf("%d messages dead-lettered, want the %d oversized records", r.res.deadLettered, oversizedCount)
			}
			ctx, cancel := context.WithTimeout(r.t.Context(), time.Minute)
			defer cancel()
			dead, _, err := readTopic(ctx, r.dlq)
			if err != nil {
				r.t.Fatalf("read dead letters: %v", err)
			}
			for _, m := range dead {
				reason := header(m, consume.HeaderError)
				if !strings.Contains(reason, strconv.Itoa(oversizedBytes)) || len(reason) > 512 {
					r.t.Errorf("dead letter reason %.600q does not name the size in a short line", reason)
				}
			}
			if len(dead) > 0 {
				r.res.note("e.g. dead letter reason: %s", header(dead[0], consume.HeaderError))
			}
		},
	})
}

// oversized makes records that are valid but for one huge string field, keyed like the fleet's nodes so that they
// sit on the same partitions as good data (their GPUs are not the fleet's, so a stored one shows in the truth check).
func oversized(nodes []nodeSpec) []kafka.Message {
	huge := strings.Repeat("x", oversizedBytes)
	out := make([]kafka.Message, oversizedCount)
	for i := range out {
		n := nodes[i%len(nodes)]
		start := simStart.Add(time.Duration(i) * interval)
		rec := schema.Record{Version: schema.Version, Node: n.name, Provider: n.provider, Region: n.region,
			InstanceType: n.instanceType, GPUUUID: fmt.Sprintf("GPU-oversized-%d", i), GPUModel: "NVIDIA H100 80GB HBM3",
			Namespace: "ns", Pod: "pod", Team: "team", IntervalStart: start, IntervalEnd: start.Add(interval),
			WindowStart: start, WindowEnd: start.Add(interval), ProvisionedSeconds: 60, AllocatedSeconds: 60, Samples: 6}
		switch i % 3 {
		case 0:
			rec.Team = huge
		case 1:
			rec.Pod = huge
		case 2:
			rec.Provider = huge
		}
		b, err := schema.Encode(&rec)
		if err != nil {
			panic(err)
		}
		out[i] = kafka.Message{Key: rec.Key(), Value: b}
	}
	return out
}

// waitMessages waits until topic holds at least n messages.
func waitMessages(ctx context.Context, topic string, n int) error {
	for {
		msgs, _, err := readTopic(ctx, topic)
		if err == nil && len(msgs) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d messages on %s (last error %v): %w", len(msgs), n, topic, err, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// peakRSS is a process's peak resident set size (VmHWM), on Linux.
func peakRSS(pid int) (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, fmt.Errorf("needs /proc (%s)", runtime.GOOS)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
