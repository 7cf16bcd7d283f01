// Package schema defines the usage record that agents send and collectors store: its fields, its wire encoding and
// the rules a record must satisfy. The ClickHouse side of the schema lives in schema/clickhouse.
package schema

import (
	"math"
	"time"
)

// Version is the wire schema version this code writes. Decode accepts exactly the versions in SupportedVersions.
const Version = 1

// SupportedVersions lists the wire versions Decode understands.
var SupportedVersions = []int{1}

// Record is one GPU's (or MIG instance's) usage during one measurement window, attributed to at most one pod.
//
// A record covers the part of one aligned reporting interval that one agent process measured:
// IntervalStart <= WindowStart < WindowEnd <= IntervalEnd. Its identity is (Node, GPUUUID, Namespace, Pod,
// WindowStart); sending it twice must not change any total. See schema/README.md for units and meanings.
type Record struct {
	Version int `json:"v"`

	// Where the GPU runs.
	Node         string `json:"node"`
	Provider     string `json:"provider"`
	Region       string `json:"region"`
	Zone         string `json:"zone,omitempty"`
	InstanceType string `json:"instance_type"`
	Account      string `json:"account,omitempty"`

	// Which GPU.
	GPUUUID    string `json:"gpu_uuid"`
	GPUIndex   int    `json:"gpu_index"`
	GPUModel   string `json:"gpu_model"`
	MIGProfile string `json:"mig_profile,omitempty"`
	// ParentGPUUUID is the physical GPU's UUID on a MIG instance's record; empty for a whole GPU. Optional in
	// schema v1: records of older agents have none.
	ParentGPUUUID string `json:"parent_gpu_uuid,omitempty"`

	// Who used it. All empty while the GPU is not assigned to a pod.
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Team      string `json:"team,omitempty"`

	// When.
	IntervalStart time.Time `json:"interval_start"`
	IntervalEnd   time.Time `json:"interval_end"`
	WindowStart   time.Time `json:"window_start"`
	WindowEnd     time.Time `json:"window_end"`

	// What was measured. Pointers are nil where the device could not report the value: unknown is not zero.
	ProvisionedSeconds float64  `json:"provisioned_seconds"`
	AllocatedSeconds   float64  `json:"allocated_seconds"`
	BusySeconds        *float64 `json:"busy_seconds"`
	MemoryUsedAvgBytes float64  `json:"memory_used_avg_bytes"`
	MemoryUsedMaxBytes uint64   `json:"memory_used_max_bytes"`
	MemoryTotalBytes   uint64   `json:"memory_total_bytes"`
	EnergyJoules       *float64 `json:"energy_joules"`
	PowerAvgWatts      *float64 `json:"power_avg_watts"`
	Samples            uint32   `json:"samples"`
}

// Key is the Kafka message key for a record: the node, so one node's records stay in order on one partition.
func (r *Record) Key() []byte { return []byte(r.Node) }

// Float returns a pointer to v, for the optional measures.
func Float(v float64) *float64 { return &v }

// Precision of measured quantities on the wire (schema/README.md, "Precision"): sums of sample segments carry float
// noise (42.00000000000002) that no one measured. Each keeps the resolution of what it was measured from: seconds
// nanoseconds (the timestamps'), joules and watts thousandths (NVML counts millijoules and milliwatts), bytes whole.
// Rounding to the source's own resolution loses nothing and keeps busy and allocated seconds at most provisioned.
const (
	SecondsDecimals = 9
	JoulesDecimals  = 3
	WattsDecimals   = 3
	BytesDecimals   = 0
)

// Round rounds v to the given number of decimals (half away from zero): the value prints as that decimal.
func Round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}
