package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func printResults(w io.Writer, m machineInfo, o options, drains []drainResult, live *liveResult, term *termResult) {
	fmt.Fprintf(w, "## Pipeline benchmark, %s\n\n", m.when.Format(time.RFC3339))
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s memory, Linux %s, load average at start %s; %s, ClickHouse %s, %s; "+
		"gpumeter %s.\n\n", m.cpus, m.cpuModel, m.memory, m.kernel, m.load, m.goVersion, m.clickhouse, m.kafka, m.gpumeter)
	if o.cluster != "" {
		fmt.Fprintf(w, "ClickHouse: cluster %s over %s (--clickhouse-cluster); ClickHouse CPU is the sum over its servers.\n\n",
			o.cluster, o.clickhouse)
	}
	if len(drains) > 0 {
		fmt.Fprintf(w, "Ingest: %d partitions, records of 8-GPU nodes at 1-minute intervals, one run per row.\n\n", o.partitions)
		fmt.Fprintln(w, "| fleet shape | records | batch | ceiling (native insert) | collector drain | ratio | vs first shape | collector CPU | CPU per record | peak RSS | ClickHouse CPU, ceiling / drain |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
		first := map[int]float64{}
		for _, d := range drains {
			if _, ok := first[d.batch]; !ok {
				first[d.batch] = d.collector
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s rows/s | %s rows/s | %.2f | %.2f | %.1f s | %.1f µs | %d MiB | %s |\n",
				d.shape, count(d.records), count(d.batch), count(int(d.ceiling)), count(int(d.collector)),
				d.collector/d.ceiling, d.collector/first[d.batch], d.cpu.Seconds(),
				float64(d.cpu.Microseconds())/float64(d.records), d.peakRSS>>20, serverCPU(d))
		}
		fmt.Fprintln(w)
	}
	if live != nil {
		batch := "collector default"
		if live.batch > 0 {
			batch = count(live.batch)
		}
		fmt.Fprintln(w, "Live: sample-to-queryable latency (record handed to the agent's producer → first gpu_usage query returning it).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| rate | fleet | for | batch | records | probes seen | p50 | p99 | max | drained after stop |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		fmt.Fprintf(w, "| %s records/s (achieved %s) | %s GPUs | %s | %s | %s | %d of %d | %s | %s | %s | %s |\n\n",
			count(live.rate), count(int(float64(live.sent)/live.ran.Seconds())), count(live.gpus), live.ran.Round(time.Second),
			batch, count(live.sent), live.seen, live.probes, sec(live.p50), sec(live.p99), sec(live.max),
			drained(live.drainedAfterStop))
	}
	if term != nil {
		fmt.Fprintln(w, "Report: `gpumeter-collector report --format table` over a commitment term (capacity, usage and spend commitments).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| fleet | term | raw rows (interval) | load: raw insert + rollups | first report | report, median |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		fmt.Fprintf(w, "| %s GPUs | %d days | %s (%s) | %s | %s | %s of %d |\n\n", count(term.gpus), term.days, count(term.rawRows),
			strings.TrimSuffix(strings.TrimSuffix(term.interval.String(), "0s"), "0m"), sec(term.loadRaw)+" + "+sec(term.loadRollups), sec(term.first), sec(term.median), term.runs)
	}
}

// count writes 1234567 as 1,234,567.
func count(n int) string {
	s := fmt.Sprint(n)
	out := ""
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out += ","
		}
		out += string(c)
	}
	return out
}

func sec(d time.Duration) string {
	if d == notSeen {
		return fmt.Sprintf("not seen within %s", liveGrace)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func drained(d time.Duration) string {
	if d == 0 {
		return fmt.Sprintf("not within %s", liveGrace)
	}
	return sec(d)
}

func serverCPU(d drainResult) string {
	if d.chCeilingCPU < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f s / %.1f s", d.chCeilingCPU.Seconds(), d.chDrainCPU.Seconds())
}
