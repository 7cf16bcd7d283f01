package gpu

import "time"

// GPU identifies a device (or MIG instance) on the node.
type GPU struct {
	UUID       string
	Index      int
	Model      string
	MIGProfile string
	// ParentUUID is the physical GPU's UUID for a MIG instance; empty for a whole GPU.
	ParentUUID       string
	MemoryTotalBytes uint64
}

// Sample is one reading of one GPU. Pointers are nil where the device could not report the value.
type Sample struct {
	Time time.Time
	GPU  GPU

	Utilization     *float64 // fraction of the last sample period a kernel ran, 0..1 (NVML's definition)
	MemoryUsedBytes uint64
	PowerWatts      *float64
	EnergyMJ        *uint64 // NVML's total-energy counter: millijoules since the driver loaded
	// Processes is each process's SM utilization averaged over the NVML samples since the previous reading
	// (DeviceGetProcessUtilization with the last-seen timestamp); nil where the device cannot report it.
	Processes []ProcessUtilization
}

// ProcessUtilization is one process's share of a GPU's SM time, 0..1, over the span since the previous sample.
type ProcessUtilization struct {
	PID         uint32
	Utilization float64
}
