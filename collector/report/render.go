package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// Report is everything the renderers lay out: the commitments' figures as of At, their hourly series for the charts
// (keyed by commitment ID; a commitment with no complete hour yet may be missing), and GPU-hours per provider and day.
type Report struct {
	At          time.Time
	Database    string
	Commitments []figures.Status
	Series      map[string]figures.Series
	Daily       []figures.DailyUsage
	// Teams is the allocation per team, provider and commitment over the daily section's hours, with its cost.
	Teams []figures.TeamUsage
	// ROFR is the right-of-first-refusal section (render_rofr.go); nil when the commitments file declares no primary.
	ROFR *figures.ROFR
}

// WriteTable prints the report for a person: one row per commitment, grouped by the unit its amounts are in, a
// plain-English verdict per commitment, then the daily GPU-hours per provider.
func WriteTable(w io.Writer, r Report) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "GPU commitments as of %s (database %s); figures to date over the complete hours before it\n",
		formatTime(r.At), r.Database)
	if len(r.Commitments) == 0 {
		fmt.Fprintln(bw, "\nno commitments")
	}
	for _, g := range summaryGroups(r.Commitments) {
		fmt.Fprintf(bw, "\namounts in %s\n", g.Unit)
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(g.Headers, "\t")+"\t")
		for _, row := range g.Rows {
			fmt.Fprintln(tw, strings.Join(row.Cells, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Commitments) > 0 {
		fmt.Fprintln(bw, "\nverdict")
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		for _, s := range r.Commitments {
			fmt.Fprintf(tw, "  %s\t%s\n", s.ID, verdictOf(s, r.At).Text)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(bw, "\nGPU-hours per provider and day")
	if len(r.Daily) == 0 {
		fmt.Fprintln(bw, "no usage recorded")
	} else if err := WriteDaily(bw, r.Daily); err != nil {
		return err
	}
	if err := writeTeams(bw, r.Teams); err != nil {
		return err
	}
	if r.ROFR != nil {
		if err := writeROFRTable(bw, r.ROFR); err != nil {
			return err
		}
	}
	return bw.err
}

// errWriter keeps the first write error, so the renderers can print freely and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// summaryGroup is the commitments whose amounts share a unit: GPU-hours (capacity and usage) or one currency
// (spend), with the unit named in the headers.
type summaryGroup struct {
	Unit        string
	Headers     []string
	HTMLHeaders []htmlHeader
	Rows        []summaryRow
}

// summaryRow is one commitment's cells: Cells for the text table, HTML for the page's narrower one, where a
// secondary figure sits in small print under the main one.
type summaryRow struct {
	ID    string
	Cells []string
	HTML  []htmlCell
}

type htmlCell struct{ Main, Sub, Class string }

// htmlHeader is a column's name and its unit, which the page keeps on one line.
type htmlHeader struct{ Text, Unit string }

// summaryGroups lays out the table shared by the text and HTML reports, groups in order of first appearance.
func summaryGroups(cs []figures.Status) []summaryGroup {
	var groups []summaryGroup
	index := map[string]int{}
	for _, s := range cs {
		u := unitLabel(s)
		i, ok := index[u]
		if !ok {
			i = len(groups)
			index[u] = i
			groups = append(groups, summaryGroup{Unit: u, Headers: []string{"commitment", "provider", "kind",
				"utilization %", "used / committed " + u, "shortfall " + u, "forecast 7d / total " + u,
				"projected shortfall 7d " + u, "required rate " + u + "/h", "overflow GPU-h", "leakage GPU-h term (last 24 h)",
				"overflow cost", "leakage cost term (last 24 h)", "unused value", "busy %"},
				HTMLHeaders: []htmlHeader{{"commitment", ""}, {"provider", ""}, {"utilization", "%"},
					{"used / committed", u}, {"shortfall", u}, {"forecast 7d / total", u}, {"projected shortfall 7d", u},
					{"required rate", u + "/h"}, {"overflow", "GPU-h"}, {"leakage term (last 24 h)", "GPU-h"},
					{"overflow / leakage cost", ""}, {"unused value", ""}, {"busy", "%"}}})
		}
		pct := ""
		if s.ProjectedShortfall7d > 0 && s.CommitmentTotal > 0 {
			pct = formatNum(100*s.ProjectedShortfall7d/s.CommitmentTotal, 0) + "% of the total"
		}
		html := []htmlCell{
			{Main: s.ID, Class: "id"},
			{Main: s.Provider, Sub: s.Kind, Class: "text"},
			{Main: formatNum(100*s.Utilization, 1)},
			{Main: formatAmount(s, s.UsedToDate), Sub: "of " + formatAmount(s, s.CommittedToDate)},
			{Main: formatAmount(s, s.ShortfallToDate)},
			{Main: formatAmount(s, s.Forecast7d), Sub: "of " + formatAmount(s, s.CommitmentTotal)},
			{Main: formatAmount(s, s.ProjectedShortfall7d), Sub: pct},
			{Main: formatAmount(s, s.RequiredRate), Sub: "now " + formatAmount(s, s.Rate7d)},
			{Main: formatNum(s.OverflowGPUHours, 1), Sub: splitOrNone(s), Class: "wrap"},
			{Main: formatNum(s.LeakageGPUHours, 1), Sub: "24 h: " + formatNum(s.Leakage24hGPUHours, 1)},
			{Main: money(s.OverflowCost, s.MoneyCurrency), Sub: "leakage " + money(s.LeakageCost, s.MoneyCurrency)},
			{Main: money(s.UnusedValue, s.UnusedValueCurrency)},
			{Main: formatNum(100*s.Efficiency, 1)},
		}
		groups[i].Rows = append(groups[i].Rows, summaryRow{ID: s.ID, HTML: html, Cells: []string{
			s.ID, s.Provider, s.Kind,
			formatNum(100*s.Utilization, 1),
			formatAmount(s, s.UsedToDate) + " / " + formatAmount(s, s.CommittedToDate),
			formatAmount(s, s.ShortfallToDate),
			formatAmount(s, s.Forecast7d) + " / " + formatAmount(s, s.CommitmentTotal),
			formatAmount(s, s.ProjectedShortfall7d) + shortfallPct(s),
			formatAmount(s, s.RequiredRate),
			overflowText(s),
			formatNum(s.LeakageGPUHours, 1) + " (" + formatNum(s.Leakage24hGPUHours, 1) + ")",
			money(s.OverflowCost, s.MoneyCurrency),
			money(s.LeakageCost, s.MoneyCurrency) + moneyParen(s.Leakage24hCost, s.MoneyCurrency),
			money(s.UnusedValue, s.UnusedValueCurrency),
			formatNum(100*s.Efficiency, 1),
		}})
	}
	return groups
}

// unitLabel is what a commitment's amounts are counted in: GPU-hours, or the currency of a spend commitment.
func unitLabel(s figures.Status) string {
	if s.Kind == "spend" {
		if s.Unit != "" {
			return s.Unit
		}
		return "money"
	}
	return "GPU-h"
}

// money is an amount of money to the cent with its currency, or "-" when there is no price to compute it from
// (schema/README.md, "Money").
func money(v float64, currency string) string {
	if currency == "" {
		return "-"
	}
	return formatNum(v, 2) + " " + currency
}

func moneyParen(v float64, currency string) string {
	if currency == "" {
		return ""
	}
	return " (" + formatNum(v, 2) + ")"
}

// formatAmount writes an amount in the commitment's unit: GPU-hours to a tenth, money to the cent.
func formatAmount(s figures.Status, v float64) string {
	if s.Kind == "spend" {
		return formatNum(v, 2)
	}
	return formatNum(v, 1)
}

func shortfallPct(s figures.Status) string {
	if s.ProjectedShortfall7d <= 0 || s.CommitmentTotal <= 0 {
		return ""
	}
	return " (" + formatNum(100*s.ProjectedShortfall7d/s.CommitmentTotal, 0) + "%)"
}

// overflowText is the overflow total with its split by provider, largest first: "132.0 (oracle_cloud 120.0, aws 12.0)".
func overflowText(s figures.Status) string {
	split := overflowSplit(s)
	if len(split) == 0 {
		return formatNum(s.OverflowGPUHours, 1)
	}
	parts := make([]string, len(split))
	for i, p := range split {
		parts[i] = p.Provider + " " + formatNum(p.GPUHours, 1)
	}
	return formatNum(s.OverflowGPUHours, 1) + " (" + strings.Join(parts, ", ") + ")"
}

type providerHours struct {
	Provider string
	GPUHours float64
}

// overflowSplit is OverflowByProvider without zeros, largest first, then by name.
func overflowSplit(s figures.Status) []providerHours {
	var out []providerHours
	for p, h := range s.OverflowByProvider {
		if h != 0 {
			out = append(out, providerHours{p, h})
		}
	}
	slices.SortFunc(out, func(a, b providerHours) int {
		if c := cmp.Compare(b.GPUHours, a.GPUHours); c != 0 {
			return c
		}
		return strings.Compare(a.Provider, b.Provider)
	})
	return out
}

// verdict is one commitment's standing in a phrase, and how worried to be: ok, warn (a shortfall is projected,
// or utilization or leakage crossed its alert threshold), bad (the projected shortfall crossed its alert threshold,
// or the term ended short), or info (not started).
type verdict struct {
	Level string
	Text  string
}

func verdictOf(s figures.Status, at time.Time) verdict {
	u := unitLabel(s)
	amount := func(v float64) string { return formatAmount(s, v) + " " + u }
	pct := func(v float64) string {
		if s.CommitmentTotal <= 0 {
			return ""
		}
		return " (" + formatNum(100*v/s.CommitmentTotal, 0) + "%)"
	}
	var v verdict
	switch {
	case !s.TermStart.IsZero() && at.Before(s.TermStart):
		return verdict{"info", "starts " + formatTime(s.TermStart)}
	case s.HoursElapsed == 0:
		return verdict{"info", "no complete hour of the term yet"}
	case s.HoursLeft <= 0:
		if short := math.Max(s.CommitmentTotal-s.UsedToDate, 0); short > 0 {
			v = verdict{"bad", "term ended " + amount(short) + pct(short) + " short of the commitment"}
		} else {
			v = verdict{"ok", "term ended, commitment met"}
		}
	case figures.Unreachable(s):
		v = verdict{"bad", "cannot be met any more: needs " + amount(s.RequiredRate) + "/h for the remaining " +
			formatHours(s.HoursLeft) + ", more than the " + formatNum(s.Quantity, 0) + " GPUs reserved; projected shortfall " +
			amount(s.ProjectedShortfall7d) + pct(s.ProjectedShortfall7d)}
	case s.ProjectedShortfall7d > 0:
		v = verdict{"warn", "projected shortfall " + amount(s.ProjectedShortfall7d) + pct(s.ProjectedShortfall7d) +
			": running at " + amount(s.Rate7d) + "/h over " + rateWindow(s) + ", needs " + amount(s.RequiredRate) +
			"/h for the remaining " + formatHours(s.HoursLeft)}
		if s.CommitmentTotal > 0 && 100*s.ProjectedShortfall7d/s.CommitmentTotal > s.AlertProjectedShortfallPct {
			v.Level = "bad"
		}
	default:
		v = verdict{"ok", "on track: forecast " + amount(s.Forecast7d) + " of " + amount(s.CommitmentTotal)}
		if t, ok := figures.ExhaustionAt(s, at); ok {
			v = verdict{"warn", "runs out " + formatTime(t) + ", " + formatHours(s.TermEnd.Sub(t).Hours()) +
				" before its term ends: used " + amount(s.UsedToDate) + " of " + amount(s.CommitmentTotal) + " at " +
				amount(s.Rate7d) + "/h over " + rateWindow(s)}
		}
	}
	var notes []string
	if s.AlertMinUtilizationPct > 0 && 100*s.Utilization < s.AlertMinUtilizationPct {
		notes = append(notes, "utilization "+formatNum(100*s.Utilization, 1)+"% is below the "+
			formatNum(s.AlertMinUtilizationPct, 0)+"% alert")
		if v.Level == "ok" {
			v.Level = "warn"
		}
	}
	if s.Leakage24hGPUHours > 0 {
		n := "leakage " + formatNum(s.Leakage24hGPUHours, 1) + " GPU-h"
		if s.MoneyCurrency != "" {
			n += " (" + money(s.Leakage24hCost, s.MoneyCurrency) + ")"
		}
		n += " in the last 24 h bought elsewhere while this commitment had room"
		if s.AlertMaxLeakageGPUHours24h > 0 && s.Leakage24hGPUHours > s.AlertMaxLeakageGPUHours24h {
			n += " (alert above " + formatNum(s.AlertMaxLeakageGPUHours24h, 1) + ")"
			if v.Level == "ok" {
				v.Level = "warn"
			}
		}
		notes = append(notes, n)
	}
	if len(notes) > 0 {
		v.Text += "; " + strings.Join(notes, "; ")
	}
	return v
}

// rateWindow names the hours rate_7d was taken over: the last 7 days, or the term so far when it is younger.
func rateWindow(s figures.Status) string {
	if s.HoursElapsed >= 168 {
		return "the last 7 days"
	}
	return "the " + formatHours(s.HoursElapsed) + " of the term so far"
}

// formatHours is a span of hours: "5 h", or in days (one decimal: 108 h is 4.5 days, not 4) once it is two days or
// more.
func formatHours(h float64) string {
	if h < 48 {
		if h != math.Trunc(h) {
			return formatNum(h, 1) + " h"
		}
		return formatNum(h, 0) + " h"
	}
	return formatNum(h/24, 1) + " days"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

// formatNum writes v with dec decimals and thousands separators: 12,345.6.
func formatNum(v float64, dec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', dec, 64)
	neg := v < 0 && strings.Trim(s, "0.") != ""
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
