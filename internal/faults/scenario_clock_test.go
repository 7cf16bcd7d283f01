//go:build faults

package faults

import (
	"path/filepath"
	"syscall"
	"time"

	"github.com/gpumeter/gpumeter/agent"
)

// stopAgent SIGTERMs node's running agent and waits for it to flush and exit; it returns the checkpoint's last sample
// per GPU (on a clean exit: exactly the last sample the process took).
func (r *run) stopAgent(n nodeSpec) map[string]time.Time {
	r.t.Helper()
	ps := r.agents[n.name]
	p := ps[len(ps)-1]
	p.signal(syscall.SIGTERM)
	return r.cleanExit(n, p, sigtermTimeout)
}

// cleanExit waits for p, one of node's agents, to exit 0 by itself, and returns its checkpoint's last sample per GPU.
func (r *run) cleanExit(n nodeSpec, p *proc, timeout time.Duration) map[string]time.Time {
	r.t.Helper()
	if !p.wait(timeout) {
		r.t.Fatalf("%s did not exit within %s; log tail:\n%s", p.name, timeout, p.tail(30))
	}
	if code := p.exitCode(); code != 0 {
		r.t.Fatalf("%s exited with %s; log tail:\n%s", p.name, p.exitDesc(), p.tail(30))
	}
	cp, ok, err := agent.ReadCheckpoint(filepath.Join(r.spoolDirs[n.name], agent.CheckpointFile))
	if err != nil || !ok {
		r.t.Fatalf("the checkpoint %s left: ok=%v err=%v", p.name, ok, err)
	}
	last := map[string]time.Time{}
	for _, g := range cp.GPUs {
		last[g.Last.GPU.UUID] = g.Last.Time.UTC()
		if len(g.Open) != 0 {
			r.t.Fatalf("%s exited cleanly but its checkpoint holds %d open windows for %s", p.name, len(g.Open), g.Last.GPU.UUID)
		}
	}
	if len(last) != gpusPerNode {
		r.t.Fatalf("the checkpoint holds %d GPUs, want %d", len(last), gpusPerNode)
	}
	return last
}

func init() {
	scenarios = append(scenarios, scenario{
		name: "clock-stepped-back",
		what: "an agent is stopped a quarter into the run and restarted on the same state directory with its clock an " +
			"hour earlier than its checkpoint's last sample, for the whole run again: it must measure all of it, stamp " +
			"it after what it sent before (no overlap), and say so once",
		duration: 2 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.25)
			r.requireAgentsRunning("before stopping an agent")
			n := r.nodes[0]
			last := r.stopAgent(n)
			k := latest(last)
			// The restarted process's clock reads an hour before the simulation started: 1 h + ¼ of the run behind
			// the checkpoint. It runs the whole duration again.
			s2 := simStart.Add(-time.Hour)
			r.kills[n.name] = &agentKill{s1: simStart, s2: s2, end: s2.Add(r.sc.duration), kLo: k, checkpoint: last, stopped: true}
			r.res.note("%s stopped (SIGTERM) at virtual %s, restarted with its clock at %s (%s behind its checkpoint) for %s",
				n.name, k.Format(time.TimeOnly), s2.Format(time.TimeOnly), k.Sub(s2), r.sc.duration)
			r.startAgent(n, s2, r.sc.duration, "")
		},
		verify: func(r *run) {
			n := r.nodes[0]
			ps := r.agents[n.name]
			restarted := ps[len(ps)-1]
			if got := restarted.count("clock stepped back"); got != 1 {
				r.t.Errorf("%s logged the clock step %d times, want once", restarted.name, got)
			}
			steps, _ := restarted.field("agent stopped", "clock_steps_back")
			by, _ := restarted.field("agent stopped", "clock_stepped_back_by")
			r.res.note("%s counted %s step(s) back, %s in all, and measured its whole run", restarted.name, steps, by)
			if steps != "1" {
				r.t.Errorf("%s counted %q clock steps, want 1", restarted.name, steps)
			}
		},
	})
}
