//go:build faults

package faults

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory of the run and unmounts it at the end of the test.
func (r *run) mountTmpfs(name string, size int64) string {
	r.t.Helper()
	if os.Geteuid() != 0 {
		r.t.Skip("spool-disk-full mounts a small tmpfs (a real full file system) and needs root")
	}
	dir := filepath.Join(r.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput(); err != nil {
		r.t.Fatalf("mount a %d-byte tmpfs on %s: %v: %s", size, dir, err, out)
	}
	r.t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// readyz returns the status and body of an agent's /readyz.
func init() {
	const tmpfsBytes, minFree = 192 << 10, 32 << 10
	scenarios = append(scenarios, scenario{
		name: "spool-disk-full",
		what: "an agent's spool moves to a 192 KiB tmpfs (a real file system that fills) and, for two hours of virtual " +
			"time, its brokers are unreachable (a wrong --kafka-brokers, so the collectors are not disturbed): the spool " +
			"drops its oldest records for room (counted), measuring goes on, /readyz and the metrics say \"disk full\"; " +
			"restarted with the right brokers it delivers what it kept",
		duration: 4 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.1)
			r.requireAgentsRunning("before moving a spool")
			n := r.nodes[0]
			k1 := latest(r.stopAgent(n))
			old := r.spoolDirs[n.name]
			dir := r.mountTmpfs("tmpfs-"+n.name, tmpfsBytes)
			// The checkpoint moves along, so the restarted agent resumes from it.
			cp, err := os.ReadFile(filepath.Join(old, "checkpoint.json"))
			if err != nil {
				r.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "checkpoint.json"), cp, 0o600); err != nil {
				r.t.Fatal(err)
			}
			r.spoolDirs[n.name] = dir
			const d2 = 2 * time.Hour
			s2 := k1.Add(time.Minute) // more than a gap after the last sample: the restored windows close
			r.agentArgs[n.name] = []string{"--spool-min-free-bytes=" + strconv.Itoa(minFree),
				"--kafka-brokers=127.0.0.1:1", "--flush-timeout=1s"}
			addr := freeAddr(r.t)
			p := r.startAgent(n, s2, d2, addr)
			r.res.note("%s restarted at virtual %s with its spool on a %d KiB tmpfs (--spool-min-free-bytes=%d) and "+
				"unreachable brokers for %s", n.name, s2.Format(time.TimeOnly), tmpfsBytes>>10, minFree, d2)

			// Until the disk is full: /readyz must say so, and the metric.
			var body string
			err = p.waitFor(time.Duration(float64(d2)/r.sc.speed)+agentsGrace, "/readyz saying disk full", func() bool {
				code, b, err := readyz(addr)
				body = b
				return err == nil && code == http.StatusServiceUnavailable && strings.Contains(b, "spool disk full")
			})
			if err != nil {
				r.t.Errorf("%v (last /readyz body %q)\n%s", err, body, p.tail(20))
			} else {
				full, err := scrapeCounter(addr, "gpumeter_agent_spool_disk_full")
				r.res.note("/readyz answered 503 %q; gpumeter_agent_spool_disk_full=%g (%v)", strings.TrimSpace(body), full, err)
				if full != 1 {
					r.t.Errorf("gpumeter_agent_spool_disk_full = %g (%v) while /readyz says disk full", full, err)
				}
			}
			last := r.cleanExit(n, p, time.Duration(float64(d2)/r.sc.speed)+agentsGrace)
			d, _ := p.field("agent stopped", "dropped_gpu_seconds")
			recs, _ := p.field("agent stopped", "dropped_records")
			samples, _ := p.field("agent stopped", "samples")
			spooled, _ := p.field("agent stopped", "still_spooled")
			r.res.note("%s dropped %s records (%s GPU-s) for room, kept %s, took %s samples", p.name, recs, d, spooled, samples)
			secs, err := strconv.ParseFloat(d, 64)
			if err != nil || secs <= 0 {
				r.t.Errorf("%s reported dropped_gpu_seconds=%q: the disk never filled", p.name, d)
			}
			if want := int64(gpusPerNode * (d2/samplePeriod + 1)); samples != strconv.FormatInt(want, 10) {
				r.t.Errorf("%s took %s samples, want %d: measuring must go on with the disk full", p.name, samples, want)
			}
			r.dropped[n.name] = secs

			// The right brokers: what the spool kept is delivered.
			r.agentArgs[n.name] = []string{"--spool-min-free-bytes=" + strconv.Itoa(minFree)}
			k2 := latest(last)
			s3 := k2.Add(time.Minute)
			end := simStart.Add(r.sc.duration)
			// Measured per GPU: (K1 − S1) + d2 + (end − s3); as one stop and restart: (K2 − S1') + (end − s3).
			r.kills[n.name] = &agentKill{s1: s2.Add(-k1.Sub(simStart)), s2: s3, end: end, kLo: k2, checkpoint: last, stopped: true}
			p3 := r.startAgent(n, s3, end.Sub(s3), "")
			// The truth check needs everything the agents report lost: wait for the last one's exit line too.
			if !p3.wait(time.Duration(float64(end.Sub(s3))/r.sc.speed) + agentsGrace) {
				r.t.Fatalf("%s still runs; log tail:\n%s", p3.name, p3.tail(30))
			}
			if d3, _ := p3.field("agent stopped", "dropped_gpu_seconds"); d3 != "0" {
				s, _ := strconv.ParseFloat(d3, 64)
				r.dropped[n.name] += s
				r.res.note("%s dropped %s GPU-s more before its spool drained", p3.name, d3)
			}
		},
	})
}
