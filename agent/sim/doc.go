// Package sim simulates GPU machines behind nvml.Interface, so that the node
// agent, the pipeline behind it and the reports can be run and tested end to
// end where there is no GPU (CI, laptops, demos).
//
// A simulated machine is one of go-nvml's own mock machines (dgxa100,
// dgxh100, dgxh200, dgxb200: 8 GPUs each) with the calls the agent measures
// filled in. The mocks alone are not enough: they panic on utilization,
// power, energy and process calls, and give every device a random UUID each
// time they are built, which would make every agent restart look like new
// hardware. Here:
//
//   - UUIDs are UUIDv5 of (machine, node, index): stable for a node across
//     restarts, distinct across nodes and GPUs.
//   - Utilization comes from a Workload (see ParseWorkload) evaluated on the
//     clock passed to New, normally the agent's virtual clock (--sim-speed),
//     and is reported in whole percent, as NVML does.
//   - Power is linear in utilization between the GPU's idle and maximum board
//     power; the power limits report the maximum.
//   - The energy counter (mJ since "driver load", i.e. since New) is the exact
//     integral of that power curve, so the agent's energy_joules can be checked
//     against power × time, and busy_seconds against Integrator.BusySeconds.
//   - Framebuffer use, temperature (30 to 75 °C) and the SM clock (idle to the
//     GPU's boost clock) follow utilization; processes run only where
//     Processes (--sim-procs) says.
//
// Everything is a pure function of (workload, GPU, virtual time) except the
// energy counter, which is integrated on read under a per-GPU mutex; devices
// may be read from any number of goroutines. Options make chosen GPUs
// misbehave the way real ones do (NOT_SUPPORTED utilization or energy, a GPU
// falling off the bus) so that the agent's fault handling can be tested.
package sim
