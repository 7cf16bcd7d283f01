// Package fleet generates the usage records of a simulated GPU fleet, shaped as real agents write them: nodes of 8
// GPUs on several providers, one record per GPU and aligned interval, attributed to pods of several teams. Benchmarks
// and load generators use it; the values are deterministic for a given shape, so runs can be compared.
package fleet

import (
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/gpumeter/gpumeter/schema"
)

// GPUsPerNode is the layout of every node (8 H100 per VM or bare-metal host, as on all three clouds).
const GPUsPerNode = 8

// Shape is a fleet and the span of time it reports.
type Shape struct {
	GPUs     int
	Start    time.Time     // aligned to Interval
	Duration time.Duration // a multiple of Interval
	Interval time.Duration // default one minute
}

func (s Shape) interval() time.Duration {
	if s.Interval <= 0 {
		return time.Minute
	}
	return s.Interval
}

// Intervals is how many intervals the shape covers.
func (s Shape) Intervals() int { return int(s.Duration / s.interval()) }

// Records is how many records the shape produces: one per GPU and interval.
func (s Shape) Records() int { return s.GPUs * s.Intervals() }

// Validate says what is wrong with the shape.
func (s Shape) Validate() error {
	iv := s.interval()
	switch {
	case s.GPUs <= 0:
		return fmt.Errorf("fleet: GPUs must be positive, got %d", s.GPUs)
	case s.Duration < iv || s.Duration%iv != 0:
		return fmt.Errorf("fleet: duration %s is not a positive multiple of the interval %s", s.Duration, iv)
	case (24*time.Hour)%iv != 0:
		return fmt.Errorf("fleet: interval %s does not divide a day", iv)
	case !s.Start.Equal(s.Start.Truncate(iv)):
		return fmt.Errorf("fleet: start %s is not aligned to the interval %s", s.Start, iv)
	}
	return nil
}

// site is one provider's pool: what its agents detect on every node.
type site struct {
	share                                         float64 // of the fleet's nodes
	provider, region, zone, instanceType, account string
	nodePrefix                                    string
}

// The fleet of the project's story (deploy/commitments.example.yaml): most GPUs on the Azure reservation, overflow on
// OCI and AWS.
var sites = []site{
	{0.5, "azure", "eastus", "eastus-1", "Standard_ND96isr_H100_v5", "3f1e0c5a-sub", "aks-ndh100"},
	{0.3, "oracle_cloud", "us-ashburn-1", "AD-1", "BM.GPU.H100.8", "ocid1.tenancy.oc1..aaaa", "oke-h100"},
	{0.2, "aws", "us-east-1", "us-east-1a", "p5.48xlarge", "123456789012", "eks-p5"},
}

var teams = []string{"research", "inference", "platform", "data", "speech", "vision"}

const (
	gpuModel    = "NVIDIA H100 80GB HBM3"
	memoryTotal = 85899345920
)

// gpu holds what does not change from one interval to the next.
type gpu struct {
	site                      *site
	node, uuid                string
	index                     int
	namespace, pod, team      string
	util, memFrac, powerWatts float64
}

// Fleet is a generated fleet; its records are computed on demand, so a fleet of any size costs only its GPU table.
type Fleet struct {
	shape Shape
	gpus  []gpu
}

// New lays out the fleet: nodes of GPUsPerNode GPUs, split across providers; per node, one training pod holds all
// GPUs (most nodes), or eight one-GPU inference pods, or nothing (idle nodes, about one in ten).
func New(s Shape) (*Fleet, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	f := &Fleet{shape: s, gpus: make([]gpu, s.GPUs)}
	nodes := (s.GPUs + GPUsPerNode - 1) / GPUsPerNode
	for i := range f.gpus {
		n := i / GPUsPerNode
		si := siteOf(n, nodes)
		st := &sites[si]
		h := mix(uint64(i) + 1)
		g := gpu{site: st, node: fmt.Sprintf("%s-%06d", st.nodePrefix, n), index: i % GPUsPerNode,
			uuid: uuid(h), util: 0.2 + 0.75*unit(mix(h)), memFrac: 0.3 + 0.65*unit(mix(h+1)),
			powerWatts: 250 + 450*unit(mix(h+2))}
		switch kind := mix(uint64(n)+7) % 10; {
		case kind == 0: // idle node: no pod, no team
		case kind <= 2: // inference: one pod per GPU
			t := teams[1+int(mix(uint64(n)+11)%2)*4] // inference or vision
			g.namespace, g.team = t, t
			g.pod = fmt.Sprintf("%s-server-%06d-%d", t, n, g.index)
		default: // training: one pod holds the node
			t := teams[int(mix(uint64(n)+13)%uint64(len(teams)))]
			g.namespace, g.team = t+"-train", t
			g.pod = fmt.Sprintf("trainer-%06d-0", n)
		}
		f.gpus[i] = g
	}
	return f, nil
}

func siteOf(node, nodes int) int {
	acc := 0.0
	for i, s := range sites {
		acc += s.share
		if float64(node) < acc*float64(nodes) || i == len(sites)-1 {
			return i
		}
	}
	return len(sites) - 1
}

// Shape is the shape the fleet was made for.
func (f *Fleet) Shape() Shape { return f.shape }

// Record fills r with GPU gpu's record for interval k (0-based from the shape's start). A full interval, as an agent
// that ran throughout closes it; busy time and power vary per interval.
func (f *Fleet) Record(k, gpu int, r *schema.Record) {
	g := &f.gpus[gpu]
	iv := f.shape.interval()
	start := f.shape.Start.Add(time.Duration(k) * iv)
	secs := iv.Seconds()
	v := unit(mix(uint64(k)<<24 ^ uint64(gpu)))
	util := math.Min(1, g.util*(0.8+0.4*v))
	allocated := 0.0
	if g.pod != "" {
		allocated = secs
	}
	*r = schema.Record{
		Version: schema.Version, Node: g.node, Provider: g.site.provider, Region: g.site.region, Zone: g.site.zone,
		InstanceType: g.site.instanceType, Account: g.site.account,
		GPUUUID: g.uuid, GPUIndex: g.index, GPUModel: gpuModel,
		Namespace: g.namespace, Pod: g.pod, Team: g.team,
		IntervalStart: start, IntervalEnd: start.Add(iv), WindowStart: start, WindowEnd: start.Add(iv),
		ProvisionedSeconds: secs, AllocatedSeconds: allocated, BusySeconds: schema.Float(math.Round(util*secs*1000) / 1000),
		MemoryUsedAvgBytes: math.Round(g.memFrac * memoryTotal), MemoryUsedMaxBytes: uint64(math.Min(1, g.memFrac*1.05) * memoryTotal),
		MemoryTotalBytes: memoryTotal, EnergyJoules: schema.Float(math.Round(g.powerWatts * (0.9 + 0.2*v) * secs)),
		PowerAvgWatts: schema.Float(math.Round(g.powerWatts*(0.9+0.2*v)*10) / 10), Samples: uint32(secs),
	}
}

// All yields every record in the order agents send them: interval by interval, node by node, GPU by GPU. The record
// is reused between iterations.
func (f *Fleet) All() iter.Seq[*schema.Record] {
	return func(yield func(*schema.Record) bool) {
		var r schema.Record
		for k := range f.shape.Intervals() {
			for i := range f.gpus {
				f.Record(k, i, &r)
				if !yield(&r) {
					return
				}
			}
		}
	}
}

// mix is splitmix64: cheap, deterministic pseudo-randomness.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func unit(x uint64) float64 { return float64(x>>11) / (1 << 53) }

func uuid(h uint64) string {
	l := mix(h ^ 0x5bd1e995)
	return fmt.Sprintf("GPU-%08x-%04x-%04x-%04x-%012x", uint32(h>>32), uint16(h>>16), uint16(h), uint16(l>>48), l&0xffffffffffff)
}
