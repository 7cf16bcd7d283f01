//go:build faults

package faults

import (
	"io"
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
func readyz(addr string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func init() {
	const tmpfsBytes, minFree = 192 << 10, 32 << 10
	scenarios = append(scenarios, scenario{
		name: "spool-disk-full",
		what: "an agent's spool moves to a 192 KiB tmpfs (a real file system that fills) and Kafka stops for 5 s of wall " +
			"time (an hour of virtual time): the spool drops its oldest records for room (counted), measuring goes " +
			"on, /readyz and the metrics say \"disk full\"; what it did not drop is delivered when Kafka is back",
		duration: 4 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.2)
			r.requireAgentsRunning("before moving a spool")
			n := r.nodes[0]
			last := r.stopAgent(n)
			k := latest(last)
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
			r.agentArgs[n.name] = []string{"--spool-min-free-bytes=" + strconv.Itoa(minFree)}
			r.res.note("Kafka stopping at %s", r.progress())
			r.svc.stop("kafka")
			// More than a gap after the last sample: the restored windows close and new ones start.
			s2 := k.Add(time.Minute)
			end := simStart.Add(r.sc.duration)
			r.kills[n.name] = &agentKill{s1: simStart, s2: s2, end: end, kLo: k, checkpoint: last}
			addr := freeAddr(r.t)
			p := r.startAgent(n, s2, end.Sub(s2), addr)
			r.res.note("%s restarted at virtual %s with its spool on a %d KiB tmpfs (--spool-min-free-bytes=%d)",
				n.name, s2.Format(time.TimeOnly), tmpfsBytes>>10, minFree)

			// Until the disk is full: /readyz must say so, and the metric. Kafka stays down 5 s of wall time (longer
			// would stop the collector too, which is not this scenario's fault).
			down := time.Now()
			var body string
			err = p.waitFor(5*time.Second, "/readyz saying disk full", func() bool {
				code, b, err := readyz(addr)
				body = b
				return err == nil && code == http.StatusServiceUnavailable && strings.Contains(b, "spool disk full")
			})
			if err != nil {
				r.t.Errorf("%v (last /readyz body %q)\n%s", err, body, p.tail(20))
			} else {
				full, err := scrapeCounter(addr, "gpumeter_agent_spool_disk_full")
				r.res.note("at %s /readyz answered 503 %q; gpumeter_agent_spool_disk_full=%g (%v)", r.progress(),
					strings.TrimSpace(body), full, err)
				if full != 1 {
					r.t.Errorf("gpumeter_agent_spool_disk_full = %g (%v) while /readyz says disk full", full, err)
				}
			}
			time.Sleep(time.Until(down.Add(5 * time.Second)))
			r.svc.start("kafka")
			r.res.note("Kafka back at %s", r.progress())
			// The truth check needs what the agent reports lost: wait for its exit line.
			if !p.wait(time.Until(r.launched.Add(r.wallRun() + agentsGrace))) {
				r.t.Fatalf("%s still runs; log tail:\n%s", p.name, p.tail(30))
			}
			d, _ := p.field("agent stopped", "dropped_gpu_seconds")
			if secs, err := strconv.ParseFloat(d, 64); err == nil {
				r.dropped[n.name] = secs
			}
		},
		verify: func(r *run) {
			n := r.nodes[0]
			ps := r.agents[n.name]
			p := ps[len(ps)-1]
			d, _ := p.field("agent stopped", "dropped_gpu_seconds")
			recs, _ := p.field("agent stopped", "dropped_records")
			samples, _ := p.field("agent stopped", "samples")
			r.res.note("%s dropped %s records (%s GPU-s) for room and took %s samples", p.name, recs, d, samples)
			secs, err := strconv.ParseFloat(d, 64)
			if err != nil || secs <= 0 {
				r.t.Errorf("%s reported dropped_gpu_seconds=%q: the disk never filled", p.name, d)
			}
			k := r.kills[n.name]
			if want := int64(gpusPerNode * (k.end.Sub(k.s2)/samplePeriod + 1)); samples != strconv.FormatInt(want, 10) {
				r.t.Errorf("%s took %s samples, want %d: measuring must go on with the disk full", p.name, samples, want)
			}
		},
	})
}
