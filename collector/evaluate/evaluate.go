// Package evaluate checks every commitment on a schedule: it computes the figures, exports them as metrics, and fires
// or resolves the commitment alerts on Alertmanager. Alerting trouble is logged and retried; it never touches
// ingestion.
package evaluate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gpumeter/gpumeter/collector/alert"
	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
)

// Alert names, as they appear in Alertmanager's alertname label.
const (
	AlertProjectedShortfall = "GPUCommitmentProjectedShortfall"
	AlertLowUtilization     = "GPUCommitmentLowUtilization"
	AlertLeakage            = "GPUCommitmentLeakage"
	AlertExhaustion         = "GPUCommitmentExhaustion"
)

// Notifier is what the evaluator tells about the alerts active now; *alert.Notifier is the real one.
type Notifier interface {
	Update(ctx context.Context, active []alert.Alert, now time.Time) error
}

// Evaluator runs the checks.
type Evaluator struct {
	conn     driver.Conn
	db       string
	notifier Notifier // nil: metrics only
	log      *slog.Logger
	now      func() time.Time

	mu     sync.Mutex
	latest []figures.Status
}

// New builds an evaluator. notifier may be nil when no Alertmanager is configured.
func New(conn driver.Conn, db string, notifier Notifier, log *slog.Logger) *Evaluator {
	return &Evaluator{conn: conn, db: db, notifier: notifier, log: log, now: time.Now}
}

// Run evaluates at once and then every interval until ctx ends.
func (e *Evaluator) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := e.Evaluate(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("commitment evaluation failed; next try in one interval", "interval", interval, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Evaluate computes the figures as of now, keeps them for the metrics and updates the alerts.
func (e *Evaluator) Evaluate(ctx context.Context) error {
	now := e.now().UTC()
	statuses, err := figures.Commitments(ctx, e.conn, e.db, now)
	if err != nil {
		return err
	}
	cs, err := commitment.Current(ctx, e.conn, e.db)
	if err != nil {
		return err
	}
	days := make(map[string]float64, len(cs))
	for _, c := range cs {
		days[c.ID] = c.Alerts.ExhaustionDays
	}
	for i := range statuses {
		statuses[i].AlertExhaustionDays = days[statuses[i].ID]
	}
	e.mu.Lock()
	e.latest = statuses
	e.mu.Unlock()
	active := Alerts(statuses)
	if e.notifier == nil {
		return nil
	}
	if err := e.notifier.Update(ctx, active, now); err != nil {
		return fmt.Errorf("update alertmanager (%d active alerts): %w", len(active), err)
	}
	return nil
}

// Alerts decides which alerts are active for the given figures, using each commitment's thresholds. A commitment
// with no complete hour yet has nothing to judge, and one whose term has ended has nothing left to act on: its alerts
// are no longer active, so the notifier resolves them (its final figures stay in the report).
func Alerts(statuses []figures.Status) []alert.Alert {
	var out []alert.Alert
	for _, s := range statuses {
		if s.HoursElapsed == 0 || s.HoursLeft <= 0 {
			continue
		}
		unit := unitName(s)
		if s.CommitmentTotal > 0 && 100*s.ProjectedShortfall7d/s.CommitmentTotal > s.AlertProjectedShortfallPct {
			meet := fmt.Sprintf("Meeting it needs %.2f %s/h from now on", s.RequiredRate, unit)
			if figures.Unreachable(s) {
				meet = fmt.Sprintf("It cannot be met any more: it needs %.2f %s/h from now on, more than the %.0f GPUs reserved",
					s.RequiredRate, unit, s.Quantity)
			}
			out = append(out, newAlert(AlertProjectedShortfall, s, "warning",
				fmt.Sprintf("Commitment %s will fall short by %.1f %s (%.1f%%) at its term end", s.ID,
					s.ProjectedShortfall7d, unit, 100*s.ProjectedShortfall7d/s.CommitmentTotal),
				fmt.Sprintf("At the trailing 7-day rate of %.2f %s/h the commitment reaches %.1f of %.1f %s by %s. "+
					"%s; %.1f GPU-hours ran on other providers and no commitment covered them, %.1f of them while "+
					"this commitment had unused capacity.", s.Rate7d, unit, s.Forecast7d, s.CommitmentTotal, unit,
					s.TermEnd.Format(time.DateOnly), meet, s.OverflowGPUHours, s.LeakageGPUHours)))
		}
		if 100*s.Utilization < s.AlertMinUtilizationPct {
			out = append(out, newAlert(AlertLowUtilization, s, "warning",
				fmt.Sprintf("Commitment %s is %.1f%% used to date (threshold %.0f%%)", s.ID, 100*s.Utilization,
					s.AlertMinUtilizationPct),
				fmt.Sprintf("%.1f of %.1f %s committed so far were used; shortfall to date %.1f %s.", s.UsedToDate,
					s.CommittedToDate, unit, s.ShortfallToDate, unit)))
		}
		if h, ok := figures.HoursToExhaustion(s); ok && h <= 24*s.AlertExhaustionDays {
			out = append(out, newAlert(AlertExhaustion, s, "warning",
				fmt.Sprintf("Commitment %s runs out in %.1f days, %.1f days before its term ends", s.ID, h/24,
					(s.HoursLeft-h)/24),
				fmt.Sprintf("%.1f of %.1f %s are used; at the trailing 7-day rate of %.2f %s/h the rest lasts %.0f hours "+
					"(threshold %.1f days). Usage beyond it is billed at other rates.", s.UsedToDate, s.CommitmentTotal,
					unit, s.Rate7d, unit, h, s.AlertExhaustionDays)))
		}
		if s.Leakage24hGPUHours > s.AlertMaxLeakageGPUHours24h {
			out = append(out, newAlert(AlertLeakage, s, "warning",
				fmt.Sprintf("%.1f GPU-hours leaked from commitment %s in the last 24h (threshold %.1f)",
					s.Leakage24hGPUHours, s.ID, s.AlertMaxLeakageGPUHours24h),
				fmt.Sprintf("Overflow providers ran %.1f GPU-hours in the last 24 hours while %s had unused capacity; "+
					"overflow by provider to date: %v.", s.Leakage24hGPUHours, s.ID, s.OverflowByProvider)))
		}
	}
	return out
}

func newAlert(name string, s figures.Status, severity, summary, description string) alert.Alert {
	return alert.Alert{
		Name: name,
		Labels: map[string]string{
			"commitment": s.ID, "provider": s.Provider, "team": s.Team, "kind": s.Kind, "severity": severity,
		},
		Annotations: map[string]string{
			"summary":                summary,
			"description":            description,
			"utilization":            fmt.Sprintf("%.4f", s.Utilization),
			"projected_shortfall_7d": fmt.Sprintf("%.2f", s.ProjectedShortfall7d),
			"leakage_24h_gpu_hours":  fmt.Sprintf("%.2f", s.Leakage24hGPUHours),
			"used_to_date":           fmt.Sprintf("%.2f", s.UsedToDate),
			"committed_to_date":      fmt.Sprintf("%.2f", s.CommittedToDate),
			"unit":                   unitName(s),
		},
	}
}

func unitName(s figures.Status) string {
	if s.Kind == "spend" {
		return s.Unit
	}
	return "GPU-h"
}

// RegisterMetrics exports the latest figures as gauges labelled by commitment, provider, kind and team, so people can
// write their own rules (deploy/prometheus has examples).
func (e *Evaluator) RegisterMetrics(m metric.Meter) error {
	type gauge struct {
		name, unit, desc string
		value            func(figures.Status) float64
	}
	gauges := []gauge{
		{"gpumeter.commitment.utilization", "1", "used to date / committed to date", func(s figures.Status) float64 { return s.Utilization }},
		{"gpumeter.commitment.committed_to_date", "", "committed so far, in the commitment's unit", func(s figures.Status) float64 { return s.CommittedToDate }},
		{"gpumeter.commitment.used_to_date", "", "used so far, in the commitment's unit", func(s figures.Status) float64 { return s.UsedToDate }},
		{"gpumeter.commitment.shortfall_to_date", "", "committed minus used so far", func(s figures.Status) float64 { return s.ShortfallToDate }},
		{"gpumeter.commitment.projected_shortfall", "", "projected shortfall at term end (trailing 7-day rate)", func(s figures.Status) float64 { return s.ProjectedShortfall7d }},
		{"gpumeter.commitment.required_rate", "", "rate per hour needed from now on to meet the commitment", func(s figures.Status) float64 { return s.RequiredRate }},
		{"gpumeter.commitment.overflow_gpu_hours", "", "GPU-hours on other providers during the term", func(s figures.Status) float64 { return s.OverflowGPUHours }},
		{"gpumeter.commitment.leakage_24h_gpu_hours", "", "overflow GPU-hours in the last 24h while the commitment had unused capacity", func(s figures.Status) float64 { return s.Leakage24hGPUHours }},
		{"gpumeter.commitment.efficiency", "1", "busy / provisioned GPU-hours within the commitment's scope", func(s figures.Status) float64 { return s.Efficiency }},
	}
	var observables []metric.Observable
	instruments := make([]metric.Float64ObservableGauge, len(gauges))
	for i, g := range gauges {
		opts := []metric.Float64ObservableGaugeOption{metric.WithDescription(g.desc)}
		if g.unit != "" {
			opts = append(opts, metric.WithUnit(g.unit))
		}
		inst, err := m.Float64ObservableGauge(g.name, opts...)
		if err != nil {
			return fmt.Errorf("register %s: %w", g.name, err)
		}
		instruments[i] = inst
		observables = append(observables, inst)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e.mu.Lock()
		latest := e.latest
		e.mu.Unlock()
		for _, s := range latest {
			attrs := metric.WithAttributes(attribute.String("commitment", s.ID), attribute.String("provider", s.Provider),
				attribute.String("kind", s.Kind), attribute.String("team", s.Team))
			for i, g := range gauges {
				o.ObserveFloat64(instruments[i], g.value(s), attrs)
			}
		}
		return nil
	}, observables...)
	if err != nil {
		return fmt.Errorf("register commitment metrics: %w", err)
	}
	return nil
}
