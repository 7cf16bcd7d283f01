package sim

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxb200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// machineModel is one supported machine: the go-nvml mock that builds it and
// the power envelope of its GPU (board power, watts).
type machineModel struct {
	build       func() *server.Server
	idleW, maxW float64
	maxSMMHz    float64 // SM clock at full load (the GPU's boost clock); idle GPUs run at idleSMMHz
}

// machineNames keeps Machines() in generation order rather than map order.
var machineNames = []string{"dgxa100", "dgxh100", "dgxh200", "dgxb200"}

// Idle/max figures are typical SXM board powers: what nvidia-smi shows for
// an idle GPU and the default power limit. All ranges are multiples of 10 W
// (see levelResolution).
var machines = map[string]machineModel{
	"dgxa100": {build: dgxa100.New, idleW: 50, maxW: 400, maxSMMHz: 1410},
	"dgxh100": {build: dgxh100.New, idleW: 70, maxW: 700, maxSMMHz: 1980},
	"dgxh200": {build: dgxh200.New, idleW: 70, maxW: 700, maxSMMHz: 1980},
	"dgxb200": {build: dgxb200.New, idleW: 140, maxW: 1000, maxSMMHz: 1965},
}

// idleSMMHz is the SM clock of an idle simulated GPU.
const idleSMMHz = 345

// Machines lists the supported machine names.
func Machines() []string { return append([]string(nil), machineNames...) }

// Option changes a simulated machine, mostly to make GPUs misbehave in fault
// tests.
type Option func(*config)

type config struct {
	procs map[int][]Process
	mig   map[int][]string
	// repartition: later MIG layouts by GPU
	repartition map[int][]layoutAt
	noUtil      map[int]bool
	noEnergy    map[int]bool
	noTemp      map[int]bool
	noClock     map[int]bool
	lostAt      map[int]time.Time
}

// UtilizationNotSupported makes GetUtilizationRates return
// ERROR_NOT_SUPPORTED on the given GPU indices, as on MIG instances: the
// agent must record busy time as unknown, not zero.
func UtilizationNotSupported(gpus ...int) Option {
	return notSupported(func(c *config) map[int]bool { return c.noUtil }, gpus)
}

// EnergyNotSupported makes GetTotalEnergyConsumption return
// ERROR_NOT_SUPPORTED on the given GPU indices (pre-Volta GPUs): the agent
// must fall back to power × dt.
func EnergyNotSupported(gpus ...int) Option {
	return notSupported(func(c *config) map[int]bool { return c.noEnergy }, gpus)
}

// notSupported is an Option marking gpus in the set of a config that field returns.
func notSupported(field func(*config) map[int]bool, gpus []int) Option {
	return func(c *config) {
		for _, g := range gpus {
			field(c)[g] = true
		}
	}
}

// TemperatureNotSupported makes GetTemperature return ERROR_NOT_SUPPORTED on the given GPU indices: the agent
// must leave the temperature gauge out, not report 0.
func TemperatureNotSupported(gpus ...int) Option {
	return notSupported(func(c *config) map[int]bool { return c.noTemp }, gpus)
}

// ClockNotSupported makes GetClockInfo return ERROR_NOT_SUPPORTED on the given GPU indices.
func ClockNotSupported(gpus ...int) Option {
	return notSupported(func(c *config) map[int]bool { return c.noClock }, gpus)
}

// LostAt makes GPU gpu fall off the bus at virtual time t: from then on every
// call the simulator implements on that device (UUID, name, memory,
// utilization, power, energy, limits, temperature, processes, PCI info)
// returns ERROR_GPU_IS_LOST, for good, as a real lost GPU does until it is
// reset. Handle lookups still succeed, and the mock's own static calls (index,
// minor number, MIG mode, ...) keep answering.
func LostAt(gpu int, t time.Time) Option {
	return func(c *config) { c.lostAt[gpu] = t }
}

// Process is a simulated process on a GPU: PID, and the fraction of the GPU's utilization its kernels take.
type Process struct {
	PID   uint32
	Share float64
}

// Processes runs the given processes on GPU gpu (a GPU shared by several pods): DeviceGetProcessUtilization then
// reports each one's SM utilization as its share of the GPU's.
func Processes(gpu int, procs ...Process) Option {
	return func(c *config) { c.procs[gpu] = append(c.procs[gpu], procs...) }
}

// ParseProcesses reads --sim-procs: "2:1001=0.75+1002=0.25,3:1003=1", GPU index, then PID=share joined by +.
func ParseProcesses(spec string) ([]Option, error) {
	var out []Option
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	for part := range strings.SplitSeq(spec, ",") {
		idx, list, ok := strings.Cut(strings.TrimSpace(part), ":")
		g, err := strconv.Atoi(idx)
		if !ok || err != nil || g < 0 {
			return nil, fmt.Errorf("processes %q: want GPU:PID=SHARE+PID=SHARE, e.g. 2:1001=0.75+1002=0.25", part)
		}
		var procs []Process
		for p := range strings.SplitSeq(list, "+") {
			pid, share, ok := strings.Cut(p, "=")
			n, err1 := strconv.ParseUint(pid, 10, 32)
			f, err2 := strconv.ParseFloat(share, 64)
			if !ok || err1 != nil || err2 != nil || f < 0 || f > 1 {
				return nil, fmt.Errorf("process %q of GPU %d: want PID=SHARE with SHARE in 0..1", p, g)
			}
			procs = append(procs, Process{PID: uint32(n), Share: f})
		}
		out = append(out, Processes(g, procs...))
	}
	return out, nil
}

// New returns a simulated machine as nvml.Interface: go-nvml's mock of the
// named machine with the measurement calls filled in from w. node seeds the
// GPU UUIDs (together with machine and index), so a node keeps its UUIDs
// across restarts and no two nodes share one. now is the clock every reading
// uses, normally the agent's virtual clock; nil means time.Now. The energy
// counters start at 0 at now() during New, as if the driver loaded then.
func New(machine, node string, w Workload, now func() time.Time, opts ...Option) (nvml.Interface, error) {
	name := strings.ToLower(strings.TrimSpace(machine))
	model, ok := machines[name]
	if !ok {
		return nil, fmt.Errorf("sim machine %q: unknown (want one of %s)", machine, strings.Join(machineNames, ", "))
	}
	if node == "" {
		return nil, errors.New("sim machine: node name is required, it seeds the GPU UUIDs")
	}
	if w == nil {
		return nil, errors.New("sim machine: workload is nil")
	}
	if now == nil {
		now = time.Now
	}
	cfg := config{procs: map[int][]Process{}, mig: map[int][]string{}, repartition: map[int][]layoutAt{}, noUtil: map[int]bool{}, noEnergy: map[int]bool{}, noTemp: map[int]bool{}, noClock: map[int]bool{}, lostAt: map[int]time.Time{}}
	for _, o := range opts {
		o(&cfg)
	}

	srv := model.build()
	n := len(srv.Devices)
	for _, set := range []map[int]bool{cfg.noUtil, cfg.noEnergy, cfg.noTemp, cfg.noClock} {
		for g := range set {
			if g < 0 || g >= n {
				return nil, fmt.Errorf("sim machine %q: option names GPU %d, machine has GPUs 0..%d", name, g, n-1)
			}
		}
	}
	for g := range cfg.repartition {
		if g < 0 || g >= n {
			return nil, fmt.Errorf("sim machine %q: MIG layout change for GPU %d, machine has GPUs 0..%d", name, g, n-1)
		}
	}
	for g := range cfg.mig {
		if g < 0 || g >= n {
			return nil, fmt.Errorf("sim machine %q: MIG layout for GPU %d, machine has GPUs 0..%d", name, g, n-1)
		}
	}
	for g := range cfg.procs {
		if g < 0 || g >= n {
			return nil, fmt.Errorf("sim machine %q: processes on GPU %d, machine has GPUs 0..%d", name, g, n-1)
		}
	}
	for g := range cfg.lostAt {
		if g < 0 || g >= n {
			return nil, fmt.Errorf("sim machine %q: option names GPU %d, machine has GPUs 0..%d", name, g, n-1)
		}
	}

	m := &simMachine{Server: srv, gpm: gpmMachines[name]}
	start := now()
	for i, d := range srv.Devices {
		sd, ok := d.(*server.Device)
		if !ok {
			return nil, fmt.Errorf("sim machine %q: mock device %d is %T, want *server.Device", name, i, d)
		}
		g := &gpu{
			dev:      sd,
			index:    i,
			uuid:     gpuUUID(name, node, i),
			name:     strings.TrimPrefix(sd.Config.Name, "Mock "),
			totalMem: sd.MemoryInfo.Total,
			idleMW:   model.idleW * 1000,
			maxMW:    model.maxW * 1000,
			maxSMMHz: model.maxSMMHz,
			w:        w,
			now:      now,
			noUtil:   cfg.noUtil[i],
			noEnergy: cfg.noEnergy[i],
			noTemp:   cfg.noTemp[i],
			noClock:  cfg.noClock[i],
			procs:    cfg.procs[i],
			last:     start,
			start:    start,
		}
		g.lostAt, g.canLose = cfg.lostAt[i]
		// The mock's own DeviceGetHandleByUUID compares against this field.
		sd.UUID = g.uuid
		g.install()
		if len(cfg.mig[i]) > 0 || len(cfg.repartition[i]) > 0 {
			g.installMIG(name, node, cfg.mig[i], cfg.repartition[i])
		}
		m.gpus = append(m.gpus, g)
	}
	return m, nil
}

// uuidNamespace is a fixed, arbitrary namespace for gpumeter's simulated GPUs.
var uuidNamespace = [16]byte{0x6b, 0x1f, 0x3c, 0x52, 0x0e, 0x8a, 0x4d, 0x2b, 0x9c, 0x71, 0x5e, 0x04, 0xd3, 0xa6, 0x18, 0xf9}

// gpuUUID is a UUIDv5 (RFC 9562: SHA-1 of namespace and name) of
// "machine/node/index", in NVML's "GPU-…" form: stable for a node across
// restarts, distinct across nodes and GPUs. The mocks' own UUIDs are random
// per construction, which would make every restart look like new hardware.
func gpuUUID(machine, node string, index int) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	fmt.Fprintf(h, "%s/%s/%d", machine, node, index)
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC variant
	return fmt.Sprintf("GPU-%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// simMachine wraps the mock server. The mocks record every call with its
// arguments in ever-growing slices (moq's call log, no reset), so the handle
// lookups an agent makes every sample are answered here instead, and the
// library-style DeviceGetXxx(device) calls, which the mock leaves nil (they
// panic), are forwarded to the device.
type simMachine struct {
	*server.Server
	gpus []*gpu
	gpm  bool // the GPUs support GPM (Hopper and later)
}

var _ nvml.Interface = (*simMachine)(nil)

func (m *simMachine) DeviceGetCount() (int, nvml.Return) { return len(m.gpus), nvml.SUCCESS }

func (m *simMachine) DeviceGetHandleByIndex(i int) (nvml.Device, nvml.Return) {
	if i < 0 || i >= len(m.gpus) {
		return nil, nvml.ERROR_INVALID_ARGUMENT
	}
	return m.gpus[i].dev, nvml.SUCCESS
}

func (m *simMachine) DeviceGetHandleByUUID(uuid string) (nvml.Device, nvml.Return) {
	for _, g := range m.gpus {
		if g.uuid == uuid {
			return g.dev, nvml.SUCCESS
		}
	}
	return nil, nvml.ERROR_NOT_FOUND
}

func (m *simMachine) DeviceGetHandleByPciBusId(busID string) (nvml.Device, nvml.Return) {
	for _, g := range m.gpus {
		if strings.EqualFold(g.dev.PciBusID, busID) {
			return g.dev, nvml.SUCCESS
		}
	}
	return nil, nvml.ERROR_NOT_FOUND
}

func (m *simMachine) DeviceGetUUID(d nvml.Device) (string, nvml.Return) {
	if d == nil {
		return "", nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetUUID()
}

func (m *simMachine) DeviceGetName(d nvml.Device) (string, nvml.Return) {
	if d == nil {
		return "", nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetName()
}

func (m *simMachine) DeviceGetMemoryInfo(d nvml.Device) (nvml.Memory, nvml.Return) {
	if d == nil {
		return nvml.Memory{}, nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetMemoryInfo()
}

func (m *simMachine) DeviceGetMemoryInfo_v2(d nvml.Device) (nvml.Memory_v2, nvml.Return) {
	if d == nil {
		return nvml.Memory_v2{}, nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetMemoryInfo_v2()
}

func (m *simMachine) DeviceGetUtilizationRates(d nvml.Device) (nvml.Utilization, nvml.Return) {
	if d == nil {
		return nvml.Utilization{}, nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetUtilizationRates()
}

func (m *simMachine) DeviceGetPowerUsage(d nvml.Device) (uint32, nvml.Return) {
	if d == nil {
		return 0, nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetPowerUsage()
}

func (m *simMachine) DeviceGetTotalEnergyConsumption(d nvml.Device) (uint64, nvml.Return) {
	if d == nil {
		return 0, nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetTotalEnergyConsumption()
}

func (m *simMachine) DeviceGetEnforcedPowerLimit(d nvml.Device) (uint32, nvml.Return) {
	if d == nil {
		return 0, nvml.ERROR_INVALID_ARGUMENT
	}
	return d.GetEnforcedPowerLimit()
}

// gpu is one simulated device's state. Readings are pure functions of now();
// only the energy counter has state, guarded by mu.
type gpu struct {
	dev              *server.Device
	index            int
	uuid, name       string
	totalMem         uint64
	idleMW, maxMW    float64
	maxSMMHz         float64
	w                Workload
	now              func() time.Time
	noUtil, noEnergy bool
	noTemp, noClock  bool
	procs            []Process
	lostAt           time.Time
	canLose          bool

	start time.Time // virtual time the machine started (GPM's busy integral counts from it)
	// migCount is how many MIG instances the GPU has now, utilSupported whether NVML reports its utilization now
	// (not in MIG mode); both set by installMIG, nil otherwise.
	migCount      func() int
	utilSupported func() bool

	mu       sync.Mutex
	last     time.Time // virtual time the counter is integrated up to
	energyMJ float64   // ∫ power dt since New, millijoules, unrounded
}

func (g *gpu) lost(t time.Time) bool { return g.canLose && !t.Before(g.lostAt) }

func (g *gpu) util(t time.Time) float64 { return clampUtil(g.w.Utilization(g.index, t)) }

// powerMW is the power curve: linear in utilization between idle and max,
// which is close enough to real boards for metering purposes.
func (g *gpu) powerMW(u float64) float64 { return g.idleMW + u*(g.maxMW-g.idleMW) }

// memUsed follows utilization (5 % resident at idle, up to 90 %), rounded to
// MiB as allocations are.
func (g *gpu) memUsed(u float64) uint64 {
	const mib = 1 << 20
	used := math.Round(float64(g.totalMem)*(0.05+0.85*u)/mib) * mib
	return min(uint64(used), g.totalMem)
}

// energy advances the counter to t and returns it in whole millijoules.
//
// Rule: the counter is the exact integral of the (unrounded) power curve,
// energy(a,b) = idle·(b−a) + (max−idle)·∫util, with ∫util from the workload's
// Integrator, so the total does not depend on how often it is read. It is
// accumulated unrounded and rounded only on output, so rounding never drifts
// and deltas telescope. For a constant (or piecewise-constant) workload the
// delta between two reads is exactly the reported power × dt whenever that is
// a whole number of mJ (e.g. dt in whole seconds). A clock that steps back
// leaves the counter where it is (it is monotone, as the driver's is).
func (g *gpu) energy(t time.Time) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.last) {
		dt := t.Sub(g.last).Seconds()
		busy := busySeconds(g.w, g.index, g.last, t)
		g.energyMJ += g.idleMW*dt + (g.maxMW-g.idleMW)*busy
		g.last = t
	}
	return uint64(math.Round(g.energyMJ))
}

// install sets the mock's Func fields this simulator owns. Each reads the
// clock once, so a reading is consistent within itself.
func (g *gpu) install() {
	d := g.dev
	d.GetUUIDFunc = func() (string, nvml.Return) {
		if g.lost(g.now()) {
			return "", nvml.ERROR_GPU_IS_LOST
		}
		return g.uuid, nvml.SUCCESS
	}
	d.GetNameFunc = func() (string, nvml.Return) {
		if g.lost(g.now()) {
			return "", nvml.ERROR_GPU_IS_LOST
		}
		return g.name, nvml.SUCCESS
	}
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST
		}
		used := g.memUsed(g.util(t))
		return nvml.Memory{Total: g.totalMem, Used: used, Free: g.totalMem - used}, nvml.SUCCESS
	}
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return nvml.Memory_v2{}, nvml.ERROR_GPU_IS_LOST
		}
		used := g.memUsed(g.util(t))
		var m nvml.Memory_v2
		m.Version = nvml.STRUCT_VERSION(m, 2)
		m.Total, m.Used, m.Free = g.totalMem, used, g.totalMem-used
		return m, nvml.SUCCESS
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
		}
		if g.noUtil || (g.utilSupported != nil && !g.utilSupported()) {
			return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
		}
		u := g.util(t)
		// NVML reports whole percent; memory is the memory controller's busy
		// share, which tracks compute at roughly 60 % on training loads.
		return nvml.Utilization{Gpu: uint32(math.Round(100 * u)), Memory: uint32(math.Round(60 * u))}, nvml.SUCCESS
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		return uint32(math.Round(g.powerMW(g.util(t)))), nvml.SUCCESS
	}
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		if g.noEnergy {
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		return g.energy(t), nvml.SUCCESS
	}
	limit := func() (uint32, nvml.Return) {
		if g.lost(g.now()) {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		return uint32(g.maxMW), nvml.SUCCESS
	}
	d.GetEnforcedPowerLimitFunc = limit
	d.GetPowerManagementLimitFunc = limit
	d.GetPowerManagementDefaultLimitFunc = limit
	d.GetTemperatureFunc = func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		if s != nvml.TEMPERATURE_GPU {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		if g.noTemp {
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		return uint32(math.Round(30 + 45*g.util(t))), nvml.SUCCESS
	}
	// The SM clock follows utilization from idleSMMHz to the GPU's boost clock, in whole MHz as NVML reports it.
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		if c != nvml.CLOCK_SM {
			return 0, nvml.ERROR_NOT_SUPPORTED // only the SM clock is simulated
		}
		if g.noClock {
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		return uint32(math.Round(idleSMMHz + g.util(t)*(g.maxSMMHz-idleSMMHz))), nvml.SUCCESS
	}
	// No processes are simulated: a simulated GPU's pod comes from --sim-teams
	// (agent/attribution), and an empty list is what a real GPU without CUDA
	// contexts returns.
	noProcs := func() ([]nvml.ProcessInfo, nvml.Return) {
		if g.lost(g.now()) {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		return []nvml.ProcessInfo{}, nvml.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = noProcs
	d.GetGraphicsRunningProcessesFunc = noProcs
	d.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		t := g.now()
		if g.lost(t) {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		if len(g.procs) == 0 {
			return nil, nvml.ERROR_NOT_FOUND // what NVML says when no process ran
		}
		// One sample per process at t, its share of the GPU's utilization over the span before t (what NVML
		// averages its per-process samples over). SmUtil is in unrounded-to-percent units: real NVML reports
		// whole percent, which the agent treats the same way.
		u := g.util(t)
		out := make([]nvml.ProcessUtilizationSample, len(g.procs))
		for i, p := range g.procs {
			out[i] = nvml.ProcessUtilizationSample{Pid: p.PID, TimeStamp: uint64(t.UnixMicro()),
				SmUtil: uint32(math.Round(100 * u * p.Share))}
		}
		return out, nvml.SUCCESS
	}
	d.IsMigDeviceHandleFunc = func() (bool, nvml.Return) { return false, nvml.SUCCESS }
	// The mock's PciInfo carries only the device id; fill in the bus id the
	// mock already invented so that it matches DeviceGetHandleByPciBusId.
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		if g.lost(g.now()) {
			return nvml.PciInfo{}, nvml.ERROR_GPU_IS_LOST
		}
		p := nvml.PciInfo{PciDeviceId: d.Config.PciDeviceId, Bus: uint32(g.index)}
		for i := 0; i < len(d.PciBusID) && i < len(p.BusId)-1; i++ {
			p.BusId[i] = int8(d.PciBusID[i])
		}
		for i := 0; i < len(d.PciBusID) && i < len(p.BusIdLegacy)-1; i++ {
			p.BusIdLegacy[i] = int8(d.PciBusID[i])
		}
		return p, nvml.SUCCESS
	}
}
