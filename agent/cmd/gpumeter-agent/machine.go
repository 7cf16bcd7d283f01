package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/sim"
	"github.com/gpumeter/gpumeter/agent/window"
)

// machine is what the agent and `gpumeter-agent gpus` read: the GPUs (real NVML or simulated), the clock, and the
// attribution (the kubelet and API server, or --sim-teams).
type machine struct {
	clk     clock.Clock
	src     *gpu.Source
	attr    attribution.Attributor
	kube    *attribution.Kube
	kubelet *attribution.Kubelet
}

func openMachine(ctx context.Context, o *options, kube *attribution.Kube, log *slog.Logger) (*machine, error) {
	var (
		lib   nvml.Interface
		clk   clock.Clock = clock.Real{}
		teams             = attribution.Static{}
		err   error
	)
	if o.simulate != "" {
		start := window.AlignDown(time.Now(), o.interval)
		if o.simStart != "" {
			if start, err = time.Parse(time.RFC3339, o.simStart); err != nil {
				return nil, fmt.Errorf("--sim-start: %w", err)
			}
		}
		workload, err := sim.ParseWorkload(o.simUtil)
		if err != nil {
			return nil, fmt.Errorf("--sim-util: %w", err)
		}
		if teams, err = attribution.ParseTeams(o.simTeams, o.node); err != nil {
			return nil, fmt.Errorf("--sim-teams: %w", err)
		}
		procs, err := sim.ParseProcesses(o.simProcs)
		if err != nil {
			return nil, fmt.Errorf("--sim-procs: %w", err)
		}
		mig, err := sim.ParseMIG(o.simMIG)
		if err != nil {
			return nil, fmt.Errorf("--sim-mig: %w", err)
		}
		procs = append(procs, mig...)
		vclk := clock.NewVirtual(start, o.simSpeed)
		clk = vclk
		if lib, err = sim.New(o.simulate, o.node, workload, vclk.Now, procs...); err != nil {
			return nil, fmt.Errorf("--simulate: %w", err)
		}
	} else {
		lib = nvml.New()
	}
	src, err := gpu.Open(lib, log)
	if err != nil {
		return nil, fmt.Errorf("%w (no NVIDIA driver on this machine? --simulate=dgxh100 runs a simulated one)", err)
	}
	m := &machine{clk: clk, src: src, attr: teams, kube: kube}
	if o.simulate != "" && o.simProcs != "" && o.perProcess {
		src.SetPerProcess(true) // --sim-teams splits a GPU shared by teams by its simulated processes
	}
	if o.podResourcesSocket != "" && (o.simulate == "" || o.explicit["pod-resources-socket"]) {
		cfg := attribution.KubeletConfig{Socket: o.podResourcesSocket, Refresh: o.attributionRefresh, KeepFor: o.attributionKeep}
		if kube != nil {
			cfg.Devices = kube
		}
		if m.kubelet, err = attribution.NewKubelet(cfg, log); err != nil {
			_ = src.Close()
			return nil, fmt.Errorf("--pod-resources-socket: %w", err)
		}
		node := &attribution.Node{Kubelet: m.kubelet}
		if kube != nil {
			node.Pods = kube
		}
		if o.perProcess {
			node.Procs = attribution.Cgroups{Root: o.procRoot}
			src.SetPerProcess(true)
		}
		m.attr = node
	}
	return m, nil
}

// start runs the informers and the kubelet client in bg until bgCtx is done. The first samples are attributed like
// the rest: the informers' first lists and the kubelet's first answer come before it returns (bounded: a kubelet or
// API server that is away does not hold the agent up).
func (m *machine) start(ctx, bgCtx context.Context, bg *sync.WaitGroup, log *slog.Logger) {
	if m.kube != nil {
		bg.Go(func() { m.kube.Run(bgCtx) })
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if !m.kube.WaitSynced(sctx) {
			log.Warn("Kubernetes API not synced within 30s; metering on, pods without labels until it is")
		}
		cancel()
	}
	if m.kubelet != nil {
		if err := m.kubelet.Refresh(ctx); err != nil {
			log.Warn("kubelet pod-resources not answering at start; GPUs unattributed until it does", "err", err)
		}
		bg.Go(func() { m.kubelet.Run(bgCtx) })
	}
}

func (m *machine) close() {
	if m.kubelet != nil {
		_ = m.kubelet.Close()
	}
	_ = m.src.Close()
}
