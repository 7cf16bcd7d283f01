package evaluate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gpumeter/gpumeter/collector/alert"
	"github.com/gpumeter/gpumeter/collector/figures"
)

// AlertROFRExposure fires when overflow that no refusal of the primary provider released (schema/README.md, "Right
// of first refusal") passes the primary's threshold in the last 24 complete hours.
const AlertROFRExposure = "GPUCommitmentROFRExposure"

// ROFRAlerts decides the exposure alerts: one per overflow provider whose uncovered GPU-hours of the last 24 complete
// hours exceed primary.alerts.max_uncovered_gpu_hours_24h. Labelled like the commitment alerts (commitment: the
// primary's commitments; team: their teams, from statuses), so Alertmanager routes them alike.
func ROFRAlerts(r figures.ROFR, statuses []figures.Status) []alert.Alert {
	var teams []string
	for _, s := range statuses {
		if slices.Contains(r.Primary.Commitments, s.ID) && s.Team != "" && !slices.Contains(teams, s.Team) {
			teams = append(teams, s.Team)
		}
	}
	sort.Strings(teams)
	providers := make([]string, 0, len(r.Uncovered24h))
	for p := range r.Uncovered24h {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	threshold := r.Primary.MaxUncoveredGPUHours24h
	commitments := strings.Join(r.Primary.Commitments, ",")
	var out []alert.Alert
	for _, p := range providers {
		u := r.Uncovered24h[p]
		if u <= threshold+1e-9 {
			continue
		}
		var first, last string
		for _, h := range r.Exposure {
			if h.Provider == p {
				if first == "" {
					first = h.Hour.Format("2006-01-02T15:04Z")
				}
				last = h.Hour.Format("2006-01-02T15:04Z")
			}
		}
		out = append(out, alert.Alert{
			Name: AlertROFRExposure,
			Labels: map[string]string{"commitment": commitments, "provider": p, "primary": r.Primary.Provider,
				"kind": "rofr", "team": strings.Join(teams, ","), "severity": "warning"},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("%.1f GPU-hours ran on %s in the last 24h without a refusal from %s (threshold %.1f)",
					u, p, r.Primary.Provider, threshold),
				"description": fmt.Sprintf("No capacity request that %s declined released these GPU-hours to %s: the "+
					"right of first refusal does not allow them (exposed hours of record from %s to %s). Ask %s for "+
					"the capacity and record its answer in the commitments file's requests, or move the work.",
					r.Primary.Provider, p, first, last, r.Primary.Provider),
				"uncovered_24h_gpu_hours": fmt.Sprintf("%.2f", u),
				"unit":                    "GPU-h",
			},
		})
	}
	return out
}

// rofrGauges are the ROFR figures exported as metrics, labelled by primary and overflow provider.
var rofrGauges = []struct {
	name, desc string
	value      func(r figures.ROFR, p figures.ROFRProvider) float64
}{
	{"gpumeter.rofr.uncovered_24h.gpu_time", "overflow GPU-seconds in the last 24 complete hours that no refusal of the primary released (ROFR exposure)",
		func(r figures.ROFR, p figures.ROFRProvider) float64 {
			return r.Uncovered24h[p.Provider] * secondsPerHour
		}},
	{"gpumeter.rofr.covered.gpu_time", "overflow GPU-seconds to date within capacity a refusal of the primary released",
		func(_ figures.ROFR, p figures.ROFRProvider) float64 { return p.Covered * secondsPerHour }},
	{"gpumeter.rofr.leakage.gpu_time", "overflow GPU-seconds to date while a commitment of the primary had idle room",
		func(_ figures.ROFR, p figures.ROFRProvider) float64 { return p.Leakage * secondsPerHour }},
	{"gpumeter.rofr.uncovered.gpu_time", "overflow GPU-seconds to date that no refusal of the primary released",
		func(_ figures.ROFR, p figures.ROFRProvider) float64 { return p.Uncovered * secondsPerHour }},
}

func (e *Evaluator) registerROFRMetrics(m metric.Meter) error {
	insts := make([]metric.Float64ObservableGauge, len(rofrGauges))
	observables := make([]metric.Observable, len(rofrGauges))
	for i, g := range rofrGauges {
		inst, err := m.Float64ObservableGauge(g.name, metric.WithDescription(g.desc), metric.WithUnit("s"))
		if err != nil {
			return fmt.Errorf("register %s: %w", g.name, err)
		}
		insts[i], observables[i] = inst, inst
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e.mu.Lock()
		r, ok := e.rofr, e.rofrOK
		e.mu.Unlock()
		if !ok {
			return nil
		}
		for _, p := range r.Providers {
			attrs := metric.WithAttributes(attribute.String("primary", r.Primary.Provider), attribute.String("provider", p.Provider))
			for i, g := range rofrGauges {
				o.ObserveFloat64(insts[i], g.value(r, p), attrs)
			}
		}
		return nil
	}, observables...)
	if err != nil {
		return fmt.Errorf("register rofr metrics: %w", err)
	}
	return nil
}
