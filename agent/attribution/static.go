// Package attribution says which pod and team each GPU serves.
package attribution

import (
	"fmt"
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

// Static assigns GPUs by index, as parsed from --sim-teams. GPUs not listed are unassigned.
type Static map[int]Attribution

// Attribution implements Attributor.
func (s Static) Attribution(g gpu.GPU) Attribution { return s[g.Index] }

// ParseTeams reads "research:4,inference:2": the first 4 GPUs serve team research (namespace research, one pod per
// GPU named <team>-<node>-<index>), the next 2 inference, the rest nobody.
func ParseTeams(spec, node string) (Static, error) {
	out := Static{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	next := 0
	for part := range strings.SplitSeq(spec, ",") {
		team, count, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(count)
		if !ok || team == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("team assignment %q: want TEAM:GPUS, e.g. research:4", part)
		}
		for range n {
			out[next] = Attribution{Namespace: team, Pod: fmt.Sprintf("%s-%s-%d", team, node, next), Team: team}
			next++
		}
	}
	return out, nil
}
