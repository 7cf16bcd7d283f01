// Package evaluate checks every commitment on a schedule: it computes the figures, exports them as metrics, and fires
// or resolves the commitment alerts on Alertmanager. Alerting trouble is logged and retried; it never touches
// ingestion.
package evaluate

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
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
	fleet  []fleetUsage // the last complete hour's usage
	rofr   figures.ROFR // right of first refusal (rofr.go), when rofrOK
	rofrOK bool
}

// fleetUsage is one provider, region, GPU model and team's GPU time in the last complete hour, in GPU-seconds.
type fleetUsage struct {
	provider, region, model, team string
	gpu, busy, busyKnown          float64
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
	fleet, err := lastHourUsage(ctx, e.conn, e.db, now)
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
	prices, err := commitment.CurrentPrices(ctx, e.conn, e.db)
	if err != nil {
		return err
	}
	rofr, rofrOK, err := figures.ROFRFigures(ctx, e.conn, e.db, now, prices)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.latest, e.fleet = statuses, fleet
	e.rofr, e.rofrOK = rofr, rofrOK
	e.mu.Unlock()
	active := Alerts(statuses)
	if rofrOK {
		active = append(active, ROFRAlerts(rofr, statuses)...)
	}
	if e.notifier == nil {
		return nil
	}
	if err := e.notifier.Update(ctx, active, now); err != nil {
		return fmt.Errorf("update alertmanager (%d active alerts): %w", len(active), err)
	}
	return nil
}

// lastHourUsage sums the hourly rollup's last complete hour before now by provider, region, GPU model and team.
func lastHourUsage(ctx context.Context, conn driver.Conn, db string, now time.Time) ([]fleetUsage, error) {
	to := now.Truncate(time.Hour)
	type key struct{ provider, region, model, team string }
	sums := map[key]*fleetUsage{}
	var order []key
	err := figures.HourlyUsage(ctx, conn, db, to.Add(-time.Hour), to, func(u figures.Usage) error {
		k := key{u.Provider, u.Region, u.GPUModel, u.Team}
		f, ok := sums[k]
		if !ok {
			f = &fleetUsage{provider: k.provider, region: k.region, model: k.model, team: k.team}
			sums[k] = f
			order = append(order, k)
		}
		f.gpu += u.GPUHours * secondsPerHour
		f.busy += u.BusyGPUHours * secondsPerHour
		f.busyKnown += u.BusyKnownGPUHours * secondsPerHour
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]fleetUsage, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	return out, nil
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
				fmt.Sprintf("Overflow providers ran %.1f GPU-hours in the last 24 hours while %s had unused capacity%s; "+
					"overflow by provider to date: %v.", s.Leakage24hGPUHours, s.ID, leakageCost(s), s.OverflowByProvider)))
		}
	}
	return out
}

// leakageCost is ", costing X CUR on demand" when prices value the last 24 hours' leakage, else "".
func leakageCost(s figures.Status) string {
	if s.MoneyCurrency == "" {
		return ""
	}
	return fmt.Sprintf(", costing %.2f %s on demand", s.Leakage24hCost, s.MoneyCurrency)
}

func newAlert(name string, s figures.Status, severity, summary, description string) alert.Alert {
	a := alert.Alert{
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
	if s.MoneyCurrency != "" { // money at the file's prices (schema/README.md, "Money")
		a.Annotations["leakage_24h_cost"] = fmt.Sprintf("%.2f", s.Leakage24hCost)
		a.Annotations["overflow_cost"] = fmt.Sprintf("%.2f", s.OverflowCost)
		a.Annotations["money_currency"] = s.MoneyCurrency
	}
	if s.UnusedValueCurrency != "" {
		a.Annotations["unused_value"] = fmt.Sprintf("%.2f", s.UnusedValue)
		a.Annotations["unused_value_currency"] = s.UnusedValueCurrency
	}
	return a
}

func unitName(s figures.Status) string {
	if s.Kind == "spend" {
		return s.Unit
	}
	return "GPU-h"
}

// Metric families. Every figure has one unit: GPU time in GPU-seconds (Prometheus' base unit; divide by 3600 for
// GPU-hours) for capacity and usage commitments, money for spend commitments, with the currency as a label, so a rule
// or a graph cannot add dollars to hours. Names as exported to Prometheus: deploy/grafana/README.md and deploy/README.md.
type gauge struct {
	name, unit, desc string
	// value is the figure for s and whether s has it: GPU-time figures exist for capacity and usage commitments,
	// money figures for spend commitments; ratios and overflow/leakage (always GPU time) for every commitment.
	value func(s figures.Status) (float64, bool)
	// currency adds the currency label (money figures).
	currency bool
	// currencyOf, when set, is the currency label of a money figure that is not in the commitment's unit (costs at
	// the price cards); a commitment without one ("": no price) has no such series.
	currencyOf func(figures.Status) string
}

// secondsPerHour turns the figures' GPU-hours into GPU-seconds.
const secondsPerHour = 3600

func gpuTime(f func(figures.Status) float64) func(figures.Status) (float64, bool) {
	return func(s figures.Status) (float64, bool) { return f(s) * secondsPerHour, !isSpend(s) }
}

// gpus is a GPU-time rate (GPU-hours per hour, GPU-seconds per second): a number of GPUs.
func gpus(f func(figures.Status) float64) func(figures.Status) (float64, bool) {
	return func(s figures.Status) (float64, bool) { return f(s), !isSpend(s) }
}

func money(f func(figures.Status) float64) func(figures.Status) (float64, bool) {
	return func(s figures.Status) (float64, bool) { return f(s), isSpend(s) }
}

func always(f func(figures.Status) float64) func(figures.Status) (float64, bool) {
	return func(s figures.Status) (float64, bool) { return f(s), true }
}

func isSpend(s figures.Status) bool { return s.Kind == "spend" }

// gauges are the commitment figures exported as metrics (OpenTelemetry names; the Prometheus names add the unit:
// s → _seconds, 1 → _ratio).
var gauges = []gauge{
	{name: "gpumeter.commitment.utilization", unit: "1", desc: "used to date / committed to date", value: always(func(s figures.Status) float64 { return s.Utilization })},
	{name: "gpumeter.commitment.efficiency", unit: "1", desc: "busy / provisioned GPU time within the commitment's scope", value: always(func(s figures.Status) float64 { return s.Efficiency })},
	{name: "gpumeter.commitment.overflow.gpu_time", unit: "s", desc: "GPU-seconds on other providers during the term", value: always(func(s figures.Status) float64 { return s.OverflowGPUHours * secondsPerHour })},
	{name: "gpumeter.commitment.leakage_24h.gpu_time", unit: "s", desc: "overflow GPU-seconds in the last 24 complete hours while the commitment had unused capacity", value: always(func(s figures.Status) float64 { return s.Leakage24hGPUHours * secondsPerHour })},

	{name: "gpumeter.commitment.committed_to_date.gpu_time", unit: "s", desc: "GPU-seconds committed so far (capacity and usage commitments)", value: gpuTime(func(s figures.Status) float64 { return s.CommittedToDate })},
	{name: "gpumeter.commitment.used_to_date.gpu_time", unit: "s", desc: "GPU-seconds of the commitment used so far (capacity and usage commitments)", value: gpuTime(func(s figures.Status) float64 { return s.UsedToDate })},
	{name: "gpumeter.commitment.shortfall_to_date.gpu_time", unit: "s", desc: "GPU-seconds committed but not used so far (capacity and usage commitments)", value: gpuTime(func(s figures.Status) float64 { return s.ShortfallToDate })},
	{name: "gpumeter.commitment.projected_shortfall.gpu_time", unit: "s", desc: "GPU-seconds short at term end at the trailing 7-day rate (capacity and usage commitments)", value: gpuTime(func(s figures.Status) float64 { return s.ProjectedShortfall7d })},
	{name: "gpumeter.commitment.required_rate.gpus", unit: "{GPU}", desc: "GPUs busy on the commitment from now on to meet it in full (capacity and usage commitments)", value: gpus(func(s figures.Status) float64 { return s.RequiredRate })},

	{name: "gpumeter.commitment.committed_to_date.cost", unit: "{currency}", desc: "money committed so far (spend commitments), in the currency label's unit", value: money(func(s figures.Status) float64 { return s.CommittedToDate }), currency: true},
	{name: "gpumeter.commitment.used_to_date.cost", unit: "{currency}", desc: "money of the commitment spent so far, at its rate card (spend commitments)", value: money(func(s figures.Status) float64 { return s.UsedToDate }), currency: true},
	{name: "gpumeter.commitment.shortfall_to_date.cost", unit: "{currency}", desc: "money committed but not spent so far (spend commitments)", value: money(func(s figures.Status) float64 { return s.ShortfallToDate }), currency: true},
	{name: "gpumeter.commitment.projected_shortfall.cost", unit: "{currency}", desc: "money short at term end at the trailing 7-day rate (spend commitments)", value: money(func(s figures.Status) float64 { return s.ProjectedShortfall7d }), currency: true},
	{name: "gpumeter.commitment.required_rate.cost_per_hour", unit: "{currency}", desc: "money per hour to spend from now on to meet the commitment (spend commitments)", value: money(func(s figures.Status) float64 { return s.RequiredRate }), currency: true},

	// Money of every kind at the file's prices (schema/README.md, "Money").
	{name: "gpumeter.commitment.overflow.cost", unit: "{currency}", desc: "what the overflow GPU-hours of the term cost at the on-demand price cards", value: always(func(s figures.Status) float64 { return s.OverflowCost }), currencyOf: moneyCurrency},
	{name: "gpumeter.commitment.leakage.cost", unit: "{currency}", desc: "what the leaked GPU-hours of the term cost at the on-demand price cards (bought while the commitment had room)", value: always(func(s figures.Status) float64 { return s.LeakageCost }), currencyOf: moneyCurrency},
	{name: "gpumeter.commitment.leakage_24h.cost", unit: "{currency}", desc: "what the leaked GPU-hours of the last 24 complete hours cost at the on-demand price cards", value: always(func(s figures.Status) float64 { return s.Leakage24hCost }), currencyOf: moneyCurrency},
	{name: "gpumeter.commitment.unused_value.cost", unit: "{currency}", desc: "the shortfall to date as money: a spend commitment's own, a capacity or usage commitment's at its price per GPU-hour", value: always(func(s figures.Status) float64 { return s.UnusedValue }), currencyOf: func(s figures.Status) string { return s.UnusedValueCurrency }},
}

func moneyCurrency(s figures.Status) string { return s.MoneyCurrency }

// fleetMetrics are the fleet's GPU time in the last complete hour, from the hourly rollup, labelled by provider,
// region, gpu_model and team: GPU-hours and busy share by provider, team and model without querying ClickHouse.
var fleetMetrics = []struct {
	name, desc string
	value      func(fleetUsage) float64
}{
	{"gpumeter.usage.last_hour.gpu_time", "provisioned GPU-seconds in the last complete hour", func(u fleetUsage) float64 { return u.gpu }},
	{"gpumeter.usage.last_hour.busy_gpu_time", "busy GPU-seconds in the last complete hour", func(u fleetUsage) float64 { return u.busy }},
	{"gpumeter.usage.last_hour.busy_known_gpu_time", "GPU-seconds of the last complete hour whose busy time is known (the busy share's denominator)", func(u fleetUsage) float64 { return u.busyKnown }},
}

// RegisterMetrics exports the latest figures as gauges labelled by commitment, provider, kind and team (and currency
// for money), so people can write their own rules (deploy/prometheus has examples).
func (e *Evaluator) RegisterMetrics(m metric.Meter) error {
	var observables []metric.Observable
	fleetGauges := make([]metric.Float64ObservableGauge, len(fleetMetrics))
	for i, f := range fleetMetrics {
		inst, err := m.Float64ObservableGauge(f.name, metric.WithDescription(f.desc), metric.WithUnit("s"))
		if err != nil {
			return fmt.Errorf("register %s: %w", f.name, err)
		}
		fleetGauges[i] = inst
		observables = append(observables, inst)
	}
	instruments := make([]metric.Float64ObservableGauge, len(gauges))
	for i, g := range gauges {
		inst, err := m.Float64ObservableGauge(g.name, metric.WithDescription(g.desc), metric.WithUnit(g.unit))
		if err != nil {
			return fmt.Errorf("register %s: %w", g.name, err)
		}
		instruments[i] = inst
		observables = append(observables, inst)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e.mu.Lock()
		latest, fleet := e.latest, e.fleet
		e.mu.Unlock()
		for _, u := range fleet {
			attrs := metric.WithAttributes(attribute.String("provider", u.provider), attribute.String("region", u.region),
				attribute.String("gpu_model", u.model), attribute.String("team", u.team))
			for i, f := range fleetMetrics {
				o.ObserveFloat64(fleetGauges[i], f.value(u), attrs)
			}
		}
		for _, s := range latest {
			labels := []attribute.KeyValue{attribute.String("commitment", s.ID), attribute.String("provider", s.Provider),
				attribute.String("kind", s.Kind), attribute.String("team", s.Team)}
			plain := metric.WithAttributes(labels...)
			withCurrency := metric.WithAttributes(append(labels, attribute.String("currency", s.Unit))...)
			for i, g := range gauges {
				v, ok := g.value(s)
				if !ok {
					continue
				}
				attrs := plain
				switch {
				case g.currencyOf != nil:
					c := g.currencyOf(s)
					if c == "" {
						continue
					}
					attrs = metric.WithAttributes(append(slices.Clip(labels), attribute.String("currency", c))...)
				case g.currency:
					attrs = withCurrency
				}
				o.ObserveFloat64(instruments[i], v, attrs)
			}
		}
		return nil
	}, observables...)
	if err != nil {
		return fmt.Errorf("register commitment metrics: %w", err)
	}
	return e.registerROFRMetrics(m)
}
