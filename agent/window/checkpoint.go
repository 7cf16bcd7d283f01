package window

import (
	"fmt"
	"time"

	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/schema"
)

// Checkpoint is the accumulator's state (the agent stores it as JSON: agent.WriteCheckpoint), so a killed agent resumes its open windows instead of losing them.
//
// Pending holds records that were closed but may not have reached the spool yet: the agent writes the checkpoint
// (windows closed → pending) before appending them to the spool, and re-appends Pending after a restart. A record
// therefore always lives in the checkpoint or the spool, possibly both; both copies are identical, and identical
// records collapse downstream. A closed window can never come back as an open one, which would send a shorter copy
// of a record under the same identity.
type Checkpoint struct {
	Version  int             `json:"version"`
	Interval time.Duration   `json:"interval"`
	Node     string          `json:"node"`
	GPUs     []GPUCheckpoint `json:"gpus"`
	Pending  []schema.Record `json:"pending,omitempty"`
	Taken    time.Time       `json:"taken"`
}

// GPUCheckpoint is one GPU's last sample and open windows.
type GPUCheckpoint struct {
	Last gpu.Sample `json:"last"`
	Open []*open    `json:"open"`
}

const checkpointVersion = 1

// Snapshot captures the accumulator's state at time now.
func (a *Accumulator) Snapshot(now time.Time, pending []schema.Record) Checkpoint {
	c := Checkpoint{Version: checkpointVersion, Interval: a.interval, Node: a.meta.Node, Pending: pending, Taken: now}
	for _, st := range a.gpus {
		g := GPUCheckpoint{Last: st.last}
		for _, w := range st.open {
			cp := *w
			g.Open = append(g.Open, &cp)
		}
		c.GPUs = append(c.GPUs, g)
	}
	return c
}

// Restore loads a checkpoint into an empty accumulator. The restored windows end where the dead process last
// sampled; the next sample is more than a gap later, so they close at once and new windows start: nothing is
// measured twice and nothing overlaps.
func (a *Accumulator) Restore(c Checkpoint) error {
	if c.Version != checkpointVersion {
		return fmt.Errorf("checkpoint version %d, this agent reads %d", c.Version, checkpointVersion)
	}
	if c.Interval != a.interval || c.Node != a.meta.Node {
		return fmt.Errorf("checkpoint is for node %q interval %s, this agent is node %q interval %s",
			c.Node, c.Interval, a.meta.Node, a.interval)
	}
	for _, g := range c.GPUs {
		st := &gpuState{last: g.Last, open: map[windowKey]*open{}}
		for _, w := range g.Open {
			st.open[windowKey{Attribution: w.Attr, intervalStart: w.IntervalStart.UnixNano()}] = w
		}
		a.gpus[g.Last.GPU.UUID] = st
	}
	return nil
}
