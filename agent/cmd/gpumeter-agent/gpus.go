package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/gpu"
)

// gpuRow is one line of `gpumeter-agent gpus`.
type gpuRow struct {
	Index            int        `json:"index"`
	UUID             string     `json:"uuid"`
	ParentUUID       string     `json:"parent_uuid,omitempty"`
	Model            string     `json:"model"`
	MemoryTotalBytes uint64     `json:"memory_total_bytes"`
	MIGProfile       string     `json:"mig_profile,omitempty"`
	Slice            float64    `json:"slice"` // the part of the physical GPU it is (MIG: compute slices / 7)
	Workloads        []workload `json:"workloads"`
}

type workload struct {
	Namespace string  `json:"namespace"`
	Pod       string  `json:"pod"`
	Team      string  `json:"team"`
	Share     float64 `json:"share"`
}

// gpus lists the node's GPUs and the pods they serve right now, from the same sources the agent meters with.
func gpus(ctx context.Context, args []string, out io.Writer) error {
	var format string
	o, err := parse(args, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "table", "gpus: output format, table or json")
	})
	if err != nil {
		return err
	}
	if format != "table" && format != "json" {
		return fmt.Errorf("--format: want table or json, got %q", format)
	}
	log, err := o.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	kube, err := kubeMeta(o, log)
	if err != nil {
		return err
	}
	m, err := openMachine(ctx, o, kube, log)
	if err != nil {
		return err
	}
	defer m.close()
	bgCtx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { stop(); bg.Wait() }()
	m.start(ctx, bgCtx, &bg, log)

	var rows []gpuRow
	for _, g := range m.src.GPUs() {
		r := gpuRow{Index: g.Index, UUID: g.UUID, ParentUUID: g.ParentUUID, Model: g.Model,
			MemoryTotalBytes: g.MemoryTotalBytes, MIGProfile: g.MIGProfile, Slice: g.Weight(), Workloads: []workload{}}
		for _, sh := range shares(m.attr, g) {
			if sh.Pod != "" {
				r.Workloads = append(r.Workloads, workload{Namespace: sh.Namespace, Pod: sh.Pod, Team: sh.Team, Share: sh.Weight})
			}
		}
		rows = append(rows, r)
	}
	return writeGPUs(out, format, rows)
}

func shares(a attribution.Attributor, g gpu.GPU) []attribution.Share {
	if s, ok := a.(attribution.Sharer); ok {
		return s.Shares(gpu.Sample{GPU: g})
	}
	return []attribution.Share{{Attribution: a.Attribution(g), Weight: 1}}
}

func writeGPUs(out io.Writer, format string, rows []gpuRow) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tUUID\tPARENT\tMODEL\tMEMORY\tMIG PROFILE\tSLICE\tPODS (namespace/pod team share)")
	for _, r := range rows {
		var pods []string
		for _, w := range r.Workloads {
			pods = append(pods, fmt.Sprintf("%s/%s %s %.2f", w.Namespace, w.Pod, w.Team, w.Share))
		}
		if len(pods) == 0 {
			pods = []string{"-"}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.0f GiB\t%s\t%.3f\t%s\n", r.Index, r.UUID, dash(r.ParentUUID), r.Model,
			float64(r.MemoryTotalBytes)/(1<<30), dash(r.MIGProfile), r.Slice, strings.Join(pods, ", "))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
