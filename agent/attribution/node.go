package attribution

import (
	"github.com/gpumeter/gpumeter/agent/gpu"
)

// Share is one workload's part of a device in one sample. The shares of a device sum to Weight 1, so a physical
// GPU's provisioned, allocated, busy seconds and energy are counted once however many pods hold it.
type Share struct {
	Attribution
	// Weight is the fraction of the device's seconds (provisioned, allocated, busy) and energy this workload gets.
	Weight float64
}

// Sharer splits a sample of a device among the workloads holding it. The agent uses it where an Attributor also
// implements it; otherwise the Attributor's one workload gets the whole device.
type Sharer interface {
	Shares(s gpu.Sample) []Share
}

// Pods answers who a pod is: the API server's view (Kube), or nothing.
type Pods interface {
	Pod(namespace, name string) (PodMeta, bool)
}

// PIDMapper maps a process to the UID of the pod it runs in (Cgroups).
type PIDMapper interface {
	PodUID(pid uint32) (string, bool)
}

// Node attributes the devices of a real node: which pods hold a device from the kubelet, who they are from the API
// server (Pods, optional: without it the team is the namespace), and how busy each pod keeps a shared device from
// its processes (Procs, optional: --per-process).
type Node struct {
	Kubelet interface{ Holders(uuid string) []Holder }
	Pods    Pods
	Procs   PIDMapper
}

// Attribution implements Attributor: the first holder (Shares is what the agent uses).
func (n *Node) Attribution(g gpu.GPU) Attribution {
	return n.Shares(gpu.Sample{GPU: g})[0].Attribution
}

// Shares splits s among the pods holding its device, by their measured share when it is known, else equally:
//   - measured: in proportion to the SM utilization of each pod's processes over the span (NVML per-process
//     utilization, PID -> pod through Procs), when at least one busy process maps to a holder;
//   - else in proportion to the device IDs each pod holds (replicas of a time-sliced or MPS GPU; one each
//     otherwise): equal shares for equal requests.
//
// Every figure of the span (provisioned, allocated, busy seconds, energy) is split by the same weight, so each
// pod's busy seconds stay within its provisioned seconds and the pods' figures add up to the device's. A device
// nobody holds is one unassigned share.
func (n *Node) Shares(s gpu.Sample) []Share {
	holders := n.Kubelet.Holders(s.GPU.UUID)
	if len(holders) == 0 {
		return []Share{{Weight: 1}}
	}
	total := 0
	for _, h := range holders {
		total += max(h.Replicas, 1)
	}
	out := make([]Share, len(holders))
	for i, h := range holders {
		a := Attribution{Namespace: h.Namespace, Pod: h.Pod, Team: h.Namespace}
		if n.Pods != nil {
			if m, ok := n.Pods.Pod(h.Namespace, h.Pod); ok {
				a.Team, a.UID = m.Team, m.UID
			}
		}
		out[i] = Share{Attribution: a, Weight: float64(max(h.Replicas, 1)) / float64(total)}
	}
	if len(out) > 1 && n.Procs != nil && len(s.Processes) > 0 {
		weighByProcesses(out, s, n.Procs)
	}
	return out
}

// weighByProcesses sets the shares' weights from their processes' SM utilization; it leaves them as they are when no
// busy process maps to a holder.
func weighByProcesses(out []Share, s gpu.Sample, procs PIDMapper) {
	byUID := map[string]int{}
	for i, sh := range out {
		if sh.UID != "" {
			byUID[sh.UID] = i
		}
	}
	per := make([]float64, len(out))
	sum := 0.0
	for _, p := range s.Processes {
		uid, ok := procs.PodUID(p.PID)
		if !ok {
			continue
		}
		if i, ok := byUID[uid]; ok && p.Utilization > 0 {
			per[i] += p.Utilization
			sum += p.Utilization
		}
	}
	if sum <= 0 {
		return // no busy process maps to a holder: the weights by request stand
	}
	for i := range out {
		out[i].Weight = per[i] / sum
	}
}
