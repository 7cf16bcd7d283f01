package gpu

import "time"

// GPU identifies a device (or MIG instance) on the node.
type GPU struct {
	UUID       string
	Index      int
	Model      string
	MIGProfile string
	// ParentUUID is the physical GPU's UUID for a MIG instance; empty for a whole GPU.
	ParentUUID string
	// MIGIndex is a MIG instance's index among its parent's MIG devices (NVML's MIG device index); 0 otherwise.
	MIGIndex         int `json:",omitempty"`
	MemoryTotalBytes uint64
	// Slice is the part of the physical GPU this device stands for: a MIG instance's compute slices / 7, and for a
	// GPU in MIG mode the part no instance holds (1 − the instances' slices). 0 means the whole GPU. Every figure of
	// the device's records is weighted by it, so a physical GPU's GPU-hours are the sum over its instances and its
	// remainder, and commitments still see whole GPUs.
	Slice float64 `json:",omitempty"`
}

// Weight is Slice, with 0 read as the whole GPU.
func (g GPU) Weight() float64 {
	if g.Slice == 0 {
		return 1
	}
	return g.Slice
}

// Sample is one reading of one GPU. Pointers are nil where the device could not report the value.
type Sample struct {
	Time time.Time
	GPU  GPU

	Utilization     *float64 // fraction of the last sample period a kernel ran, 0..1 (NVML's definition)
	MemoryUsedBytes uint64
	// Board readings: the physical GPU's power meter, energy counter, core temperature and SM clock. NVML has them
	// per physical GPU only, so a MIG instance (and a partitioned GPU's remainder) carries its parent GPU's, read
	// once per Read for all the devices of that GPU; every figure a record takes from them is weighted by GPU.Weight,
	// so a MIG instance's energy is its slice share of the parent's.
	PowerWatts   *float64
	EnergyMJ     *uint64  // NVML's total-energy counter: millijoules since the driver loaded
	TemperatureC *float64 // GPU core temperature, °C (NVML_TEMPERATURE_GPU)
	SMClockHz    *float64 // current SM clock, Hz (NVML_CLOCK_SM, which NVML reports in MHz)
	// Processes is each process's SM utilization averaged over the NVML samples since the previous reading
	// (DeviceGetProcessUtilization with the last-seen timestamp); nil where the device cannot report it.
	Processes []ProcessUtilization
}

// ProcessUtilization is one process's share of a GPU's SM time, 0..1, over the span since the previous sample.
type ProcessUtilization struct {
	PID         uint32
	Utilization float64
}
