// Package attribution says which pod and team each GPU serves.
package attribution

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gpumeter/gpumeter/agent/gpu"
)

// Attribution says which workload a GPU serves. The zero value means unassigned.
type Attribution struct {
	Namespace string
	Pod       string
	Team      string
	// UID is the pod's UID where the API server told it: a pod deleted and recreated under the same name is
	// another workload, whose windows never merge with the old one's. It is not on the record.
	UID string `json:",omitempty"`
}

// Attributor maps a GPU to the workload using it right now.
type Attributor interface {
	Attribution(g gpu.GPU) Attribution
}

// Static assigns GPUs by index, as parsed from --sim-teams: the pods holding each GPU (one for a GPU of its own,
// several for a GPU shared among teams). GPUs not listed are unassigned.
type Static map[int][]Attribution

// Attribution implements Attributor: the first holder (Shares is what the agent uses).
func (s Static) Attribution(g gpu.GPU) Attribution {
	return s.Shares(gpu.Sample{GPU: g})[0].Attribution
}

// Shares implements Sharer. A GPU of one team: its pod holds the whole device, and every MIG instance of it. A GPU
// listed with several teams is held by one pod per team:
//   - in MIG mode, the k-th MIG instance (NVML's MIG device index) serves the k-th team; instances beyond the list
//     and the unpartitioned remainder nobody;
//   - otherwise the pods share it (time-slicing): in proportion to the SM utilization of the GPU's simulated
//     processes (--sim-procs; the k-th process runs in the k-th team's pod) where the sample has them, else equally.
func (s Static) Shares(smp gpu.Sample) []Share {
	holders := s[smp.GPU.Index]
	switch {
	case len(holders) == 0:
		return []Share{{Weight: 1}}
	case len(holders) == 1:
		return []Share{{Attribution: holders[0], Weight: 1}}
	case smp.GPU.ParentUUID != "":
		if k := smp.GPU.MIGIndex; k < len(holders) {
			return []Share{{Attribution: holders[k], Weight: 1}}
		}
		return []Share{{Weight: 1}}
	case smp.GPU.Slice != 0:
		return []Share{{Weight: 1}} // the remainder of a GPU whose instances the teams hold
	}
	out := make([]Share, len(holders))
	sum := 0.0
	for k, p := range smp.Processes {
		if k < len(holders) {
			sum += p.Utilization
		}
	}
	for k, h := range holders {
		out[k] = Share{Attribution: h, Weight: 1 / float64(len(holders))}
		if sum > 0 {
			out[k].Weight = 0
			if k < len(smp.Processes) {
				out[k].Weight = smp.Processes[k].Utilization / sum
			}
		}
	}
	return out
}

// ParseTeams reads --sim-teams, "research:4,inference:2": the first 4 GPUs serve team research (namespace research,
// one pod per GPU named <team>-<node>-<index>), the next 2 inference, the rest nobody. Teams joined by + share each of
// their GPUs ("inference+research:1": one GPU held by a pod of each, named <team>-<node>-<index>-<k>; see Shares for
// how a MIG GPU and a time-sliced one are split).
func ParseTeams(spec, node string) (Static, error) {
	out := Static{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	next := 0
	for part := range strings.SplitSeq(spec, ",") {
		list, count, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(count)
		teams := strings.Split(list, "+")
		if !ok || slices.Contains(teams, "") || err != nil || n < 0 {
			return nil, fmt.Errorf("team assignment %q: want TEAM:GPUS or TEAM+TEAM:GPUS, e.g. research:4 or inference+research:1", part)
		}
		for range n {
			for k, team := range teams {
				pod := fmt.Sprintf("%s-%s-%d", team, node, next)
				if len(teams) > 1 {
					pod = fmt.Sprintf("%s-%d", pod, k)
				}
				out[next] = append(out[next], Attribution{Namespace: team, Pod: pod, Team: team})
			}
			next++
		}
	}
	return out, nil
}
