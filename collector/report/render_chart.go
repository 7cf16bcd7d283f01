package report

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/internal/cloudprovider"
)

// The charts are drawn here as lists of SVG shapes; render_html.go's template writes them, escaping every value.

// svgDrawing is one chart.
type svgDrawing struct {
	Width, Height int
	Label         string // what the chart shows, for screen readers
	Elems         []svgElem
}

// svgElem is one shape. Kind picks which fields matter: line (X, Y, X2, Y2), polyline and polygon (Points),
// rect (X, Y, W, H, Fill, Tip), circle (X, Y, R), text (X, Y, Text, Anchor, Rotate).
type svgElem struct {
	Kind, Class        string
	X, Y, X2, Y2, W, H float64
	R                  float64
	Points, Fill, Tip  string
	Text, Anchor       string
	Rotate             bool
}

func line(class string, x1, y1, x2, y2 float64) svgElem {
	return svgElem{Kind: "line", Class: class, X: x1, Y: y1, X2: x2, Y2: y2}
}

func text(class string, x, y float64, anchor, s string) svgElem {
	return svgElem{Kind: "text", Class: class, X: x, Y: y, Anchor: anchor, Text: s}
}

type xy struct{ X, Y float64 }

func points(ps []xy) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(px(p.X) + "," + px(p.Y))
	}
	return b.String()
}

// px writes a coordinate to a tenth of a pixel.
func px(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// textWidth guesses how wide s is at the charts' 12px font, to lay out legends and labels.
func textWidth(s string) float64 { return 6.6 * float64(len([]rune(s))) }

// niceTicks divides [0, max] into about n steps of 1, 2 or 5 times a power of ten, ending at or above max.
func niceTicks(max float64, n int) (ticks []float64, top float64, decimals int) {
	if !(max > 0) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	top = math.Ceil(max/step-1e-9) * step
	for v := 0.0; v <= top+step/2; v += step {
		ticks = append(ticks, v)
	}
	decimals = max0(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if step/mag == 2.5 && step < 10 {
		decimals++
	}
	return ticks, top, decimals
}

func max0(a, b int) int {
	if a > b {
		return a
	}
	return b
}

type timeTick struct {
	T     time.Time
	Label string
}

// timeTicks picks at most about eight round instants in [t0, t1]: hours, days, weeks or months.
func timeTicks(t0, t1 time.Time) []timeTick {
	t0, t1 = t0.UTC(), t1.UTC()
	span := t1.Sub(t0)
	if span <= 0 {
		return nil
	}
	var out []timeTick
	for _, h := range []int{1, 2, 3, 6, 12} {
		step := time.Duration(h) * time.Hour
		if span/step > 8 {
			continue
		}
		lastDay := ""
		for t := t0.Truncate(step); !t.After(t1); t = t.Add(step) {
			if t.Before(t0) {
				continue
			}
			label, day := t.Format("15:04"), t.Format("Jan 2")
			if day != lastDay {
				label = day + " " + label
				lastDay = day
			}
			out = append(out, timeTick{t, label})
		}
		return out
	}
	for _, d := range []int{1, 2, 7} {
		if span/(time.Duration(d)*24*time.Hour) > 8 {
			continue
		}
		first := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, time.UTC)
		if first.Before(t0) {
			first = first.AddDate(0, 0, 1)
		}
		for t := first; !t.After(t1); t = t.AddDate(0, 0, d) {
			out = append(out, timeTick{t, t.Format("Jan 2")})
		}
		return out
	}
	months := 12
	for _, m := range []int{1, 2, 3, 6} {
		if span.Hours()/(24*30.44*float64(m)) <= 8 {
			months = m
			break
		}
	}
	first := time.Date(t0.Year(), t0.Month(), 1, 0, 0, 0, 0, time.UTC)
	if first.Before(t0) {
		first = first.AddDate(0, 1, 0)
	}
	for t := first; !t.After(t1); t = t.AddDate(0, months, 0) {
		out = append(out, timeTick{t, t.Format("Jan 2006")})
	}
	return out
}

// legendItem is a sample of a line or a swatch of colour, and what it stands for.
type legendItem struct {
	Class, Fill, Text string
}

// legend lays items out in a row from (x, y), wrapping before maxX.
func legend(items []legendItem, x, y, maxX float64) []svgElem {
	var out []svgElem
	cx := x
	for _, it := range items {
		w := 30 + textWidth(it.Text) + 18
		if cx+w > maxX && cx > x {
			cx, y = x, y+18
		}
		if it.Fill != "" {
			out = append(out, svgElem{Kind: "rect", Class: "swatch", X: cx, Y: y - 9, W: 22, H: 12, Fill: it.Fill})
		} else {
			out = append(out, line(it.Class, cx, y-3, cx+22, y-3))
		}
		out = append(out, text("legend", cx+28, y+1, "start", it.Text))
		cx += w
	}
	return out
}

// sideLabel is a label in the right margin that wants to sit at height Y.
type sideLabel struct {
	Y           float64
	Class, Text string
}

// placeSideLabels keeps the labels at least 15px apart, in the order of their heights.
func placeSideLabels(ls []sideLabel, x float64) []svgElem {
	slices.SortStableFunc(ls, func(a, b sideLabel) int { return cmp.Compare(a.Y, b.Y) })
	var out []svgElem
	for i := range ls {
		if i > 0 && ls[i].Y < ls[i-1].Y+15 {
			ls[i].Y = ls[i-1].Y + 15
		}
		out = append(out, text(ls[i].Class, x, ls[i].Y+4, "start", ls[i].Text))
	}
	return out
}

// commitmentChart draws a commitment's cumulative use against the committed line over its whole term, the forecast
// at the last 7 days' rate from the last complete hour to the term's end, and the commitment's total.
func commitmentChart(s figures.Status, series figures.Series, at time.Time) svgDrawing {
	const W, H = 920, 340
	const L, R, T, B = 78.0, 200.0, 52.0, 46.0
	pw, ph := W-L-R, H-T-B
	u := unitLabel(s)
	d := svgDrawing{Width: W, Height: H, Label: "cumulative " + u + " used against committed for " + s.ID}

	t0, t1 := s.TermStart.UTC(), s.TermEnd.UTC()
	if !t1.After(t0) {
		t1 = t0.Add(time.Hour)
	}
	pts := series.Points
	elapsedEnd := t0.Add(time.Duration(s.HoursElapsed * float64(time.Hour)))
	ymax := math.Max(s.CommitmentTotal, math.Max(s.Forecast7d, s.UsedToDate))
	for _, p := range pts {
		ymax = math.Max(ymax, math.Max(p.UsedCum, p.CommittedCum))
	}
	yticks, top, dec := niceTicks(ymax*1.04, 5)
	x := func(t time.Time) float64 {
		f := float64(t.Sub(t0)) / float64(t1.Sub(t0))
		return L + pw*math.Min(math.Max(f, 0), 1)
	}
	y := func(v float64) float64 { return T + ph - ph*v/top }

	for _, v := range yticks {
		d.Elems = append(d.Elems, line("grid", L, y(v), L+pw, y(v)),
			text("tick", L-8, y(v)+4, "end", formatNum(v, dec)))
	}
	for _, tk := range timeTicks(t0, t1) {
		d.Elems = append(d.Elems, line("grid", x(tk.T), T, x(tk.T), T+ph),
			text("tick", x(tk.T), T+ph+17, "middle", tk.Label))
	}
	d.Elems = append(d.Elems, line("axis", L, T+ph, L+pw, T+ph), line("axis", L, T, L, T+ph),
		svgElem{Kind: "text", Class: "axislabel", X: 18, Y: T + ph/2, Anchor: "middle", Rotate: true, Text: "cumulative " + u},
		text("axislabel", L+pw/2, H-6, "middle", "term "+t0.Format("2006-01-02 15:04")+" to "+t1.Format("2006-01-02 15:04")+" UTC"))

	// What was committed: the elapsed hours as read, then on to the total at the term's end.
	committed := []xy{{x(t0), y(0)}}
	for _, p := range thin(pts, 800) {
		committed = append(committed, xy{x(p.Hour.Add(time.Hour)), y(p.CommittedCum)})
	}
	committed = append(committed, xy{x(t1), y(s.CommitmentTotal)})
	d.Elems = append(d.Elems, line("total", L, y(s.CommitmentTotal), L+pw, y(s.CommitmentTotal)),
		svgElem{Kind: "polyline", Class: "committed", Points: points(committed)})

	// What was used, shaded underneath.
	if len(pts) > 0 {
		used := []xy{{x(t0), y(0)}}
		for _, p := range thin(pts, 800) {
			used = append(used, xy{x(p.Hour.Add(time.Hour)), y(p.UsedCum)})
		}
		area := append(slices.Clone(used), xy{used[len(used)-1].X, y(0)})
		d.Elems = append(d.Elems, svgElem{Kind: "polygon", Class: "usedarea", Points: points(area)},
			svgElem{Kind: "polyline", Class: "used", Points: points(used)})
	}

	labels := []sideLabel{{y(s.CommitmentTotal), "lbl lbl-total", "total " + formatAmount(s, s.CommitmentTotal) + " " + u}}
	if s.HoursElapsed > 0 && s.HoursLeft > 0 && !at.Before(t0) {
		fx, fy := x(elapsedEnd), y(s.UsedToDate)
		d.Elems = append(d.Elems, line("forecast", fx, fy, x(t1), y(s.Forecast7d)),
			svgElem{Kind: "circle", Class: "dot-used", X: fx, Y: fy, R: 3.5},
			svgElem{Kind: "circle", Class: "dot-forecast", X: x(t1), Y: y(s.Forecast7d), R: 3.5})
		labels = append(labels, sideLabel{y(s.Forecast7d), "lbl lbl-forecast", "forecast " + formatAmount(s, s.Forecast7d)})
		if s.ProjectedShortfall7d > 0 {
			d.Elems = append(d.Elems, line("short", x(t1), y(s.Forecast7d), x(t1), y(s.CommitmentTotal)),
				line("short", x(t1)-5, y(s.CommitmentTotal), x(t1)+5, y(s.CommitmentTotal)),
				line("short", x(t1)-5, y(s.Forecast7d), x(t1)+5, y(s.Forecast7d)))
			labels = append(labels, sideLabel{(y(s.Forecast7d) + y(s.CommitmentTotal)) / 2, "lbl lbl-short",
				"shortfall " + formatAmount(s, s.ProjectedShortfall7d) + shortfallPct(s)})
		}
	}
	if a := at.UTC(); a.After(t0) && a.Before(t1) {
		ax := x(a)
		d.Elems = append(d.Elems, line("atline", ax, T, ax, T+ph), text("atlabel", ax+4, T+12, "start", "as of "+a.Format("Jan 2 15:04")))
	}
	d.Elems = append(d.Elems, placeSideLabels(labels, L+pw+12)...)
	d.Elems = append(d.Elems, legend([]legendItem{
		{Class: "used", Text: "used to date"},
		{Class: "forecast", Text: "forecast at the 7-day rate (" + formatAmount(s, s.Rate7d) + " " + u + "/h)"},
		{Class: "committed", Text: "committed"},
		{Class: "total", Text: "commitment total"},
	}, L, 20, W-10)...)
	if len(pts) == 0 {
		d.Elems = append(d.Elems, text("empty", L+pw/2, T+ph/2, "middle", "no complete hour of the term yet"))
	}
	return d
}

// thin keeps at most about n points, evenly spaced, always the last: enough for a chart, small for a page.
func thin(pts []figures.SeriesPoint, n int) []figures.SeriesPoint {
	if len(pts) <= n {
		return pts
	}
	k := (len(pts) + n - 1) / n
	var out []figures.SeriesPoint
	for i := 0; i < len(pts); i += k {
		out = append(out, pts[i])
	}
	if out[len(out)-1] != pts[len(pts)-1] {
		out = append(out, pts[len(pts)-1])
	}
	return out
}

// dailyChart stacks each day's provisioned GPU-hours by provider.
func dailyChart(rows []figures.DailyUsage) svgDrawing {
	hours := map[time.Time]map[string]float64{}
	var providers []string
	for _, r := range rows {
		day := r.Day.UTC()
		if hours[day] == nil {
			hours[day] = map[string]float64{}
		}
		hours[day][r.Provider] += r.ProvisionedHours
		if !slices.Contains(providers, r.Provider) {
			providers = append(providers, r.Provider)
		}
	}
	slices.Sort(providers)
	return stackedDaysChart("GPU-hours per day, stacked by provider", hours, providers, cloudprovider.Colors(providers))
}

// stackedDaysChart draws one bar per day of hours, stacked by key in keys' order, each key in its color.
func stackedDaysChart(label string, hours map[time.Time]map[string]float64, keys []string, colors map[string]string) svgDrawing {
	const W, H = 920, 320
	const L, R, T, B = 78.0, 24.0, 52.0, 40.0
	pw, ph := W-L-R, H-T-B
	d := svgDrawing{Width: W, Height: H, Label: label}
	providers := keys
	var days []time.Time
	for day := range hours {
		days = append(days, day)
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	ymax := 0.0
	for _, day := range days {
		sum := 0.0
		for _, h := range hours[day] {
			sum += h
		}
		ymax = math.Max(ymax, sum)
	}
	yticks, top, dec := niceTicks(ymax*1.04, 5)
	y := func(v float64) float64 { return T + ph - ph*v/top }
	for _, v := range yticks {
		d.Elems = append(d.Elems, line("grid", L, y(v), L+pw, y(v)), text("tick", L-8, y(v)+4, "end", formatNum(v, dec)))
	}
	d.Elems = append(d.Elems, line("axis", L, T+ph, L+pw, T+ph), line("axis", L, T, L, T+ph),
		svgElem{Kind: "text", Class: "axislabel", X: 18, Y: T + ph/2, Anchor: "middle", Rotate: true, Text: "GPU-hours"})
	if len(days) == 0 {
		d.Elems = append(d.Elems, text("empty", L+pw/2, T+ph/2, "middle", "no usage recorded"))
		return d
	}
	slot := pw / float64(len(days))
	bw := math.Min(slot*0.72, 56)
	every := (len(days) + 13) / 14
	for i, day := range days {
		cx := L + slot*(float64(i)+0.5)
		sum := 0.0
		for _, p := range providers {
			h := hours[day][p]
			if h <= 0 {
				continue
			}
			d.Elems = append(d.Elems, svgElem{Kind: "rect", Class: "bar", X: cx - bw/2, Y: y(sum + h), W: bw,
				H: y(sum) - y(sum+h), Fill: colors[p], Tip: day.Format(time.DateOnly) + " " + p + ": " + formatNum(h, 1) + " GPU-h"})
			sum += h
		}
		if len(days) <= 21 {
			d.Elems = append(d.Elems, text("barlabel", cx, y(sum)-5, "middle", formatNum(sum, 0)))
		}
		if i%every == 0 {
			d.Elems = append(d.Elems, text("tick", cx, T+ph+17, "middle", day.Format("Jan 2")))
		}
	}
	var items []legendItem
	for _, p := range providers {
		items = append(items, legendItem{Fill: colors[p], Text: p})
	}
	d.Elems = append(d.Elems, legend(items, L, 20, W-10)...)
	return d
}
