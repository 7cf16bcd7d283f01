package report

import (
	"cmp"
	"html/template"
	"io"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// WriteHTML writes the report as one standalone page: the summary table and verdicts, a chart per commitment of
// cumulative use against the committed line with the 7-day forecast to the term's end, and GPU-hours per day
// stacked by provider. Charts are inline SVG drawn here; the page loads nothing (no fonts, scripts or images).
func WriteHTML(w io.Writer, r Report) error {
	page := htmlPage{Title: "GPU commitments as of " + formatTime(r.At), At: formatTime(r.At), Database: r.Database,
		Groups: summaryGroups(r.Commitments)}
	for _, s := range r.Commitments {
		v := verdictOf(s, r.At)
		page.Cards = append(page.Cards, htmlCard{
			ID: s.ID, Name: s.Name, Facts: commitmentFacts(s), Level: v.Level, LevelText: levelText[v.Level],
			Verdict: v.Text, Tiles: commitmentTiles(s), Chart: commitmentChart(s, r.Series[s.ID], r.At),
		})
	}
	page.Daily = dailyChart(r.Daily)
	page.DailyRows = dailyTableRows(r.Daily)
	for _, sec := range teamSections(r.Teams) {
		if len(sec.Rows) > 0 {
			page.TeamTables = append(page.TeamTables, htmlTeamTable{K1: sec.K1, K2: sec.K2, Cells: teamCells(sec.Rows)})
		}
	}
	page.ROFR = rofrHTML(r.ROFR)
	return pageTemplate.Execute(w, page)
}

type htmlPage struct {
	Title, At, Database string
	Groups              []summaryGroup
	Cards               []htmlCard
	Daily               svgDrawing
	DailyRows           [][]string
	// TeamTables are the team sections that have rows (render_teams.go).
	TeamTables []htmlTeamTable
	ROFR       *htmlROFR
}

// htmlTeamTable is one team section on the page: the names of its two key columns and its cells.
type htmlTeamTable struct {
	K1, K2 string
	Cells  [][]string
}

type htmlCard struct {
	ID, Name, Facts, Level, LevelText, Verdict string
	Tiles                                      []tile
	Chart                                      svgDrawing
}

type tile struct{ Label, Value, Unit, Sub string }

var levelText = map[string]string{"ok": "on track", "warn": "watch", "bad": "alert", "info": "not started"}

func commitmentFacts(s figures.Status) string {
	var what string
	switch s.Kind {
	case "capacity":
		what = formatNum(s.Quantity, 0) + " GPUs reserved every hour"
	case "usage":
		what = formatNum(s.Quantity, 1) + " GPU-h over the term"
	case "spend":
		what = formatNum(s.Quantity, 2) + " " + s.Unit + " over the term"
	default:
		what = formatNum(s.Quantity, 1) + " " + s.Unit
	}
	layout := "2006-01-02"
	if s.TermStart.UTC().Truncate(24*time.Hour) != s.TermStart.UTC() || s.TermEnd.UTC().Truncate(24*time.Hour) != s.TermEnd.UTC() {
		layout = "2006-01-02 15:04"
	}
	f := s.Provider + " · " + s.Kind + ": " + what + " · term " + s.TermStart.UTC().Format(layout) + " to " +
		s.TermEnd.UTC().Format(layout) + " UTC (" + formatHours(s.TermHours) + ", " + formatHours(s.HoursElapsed) +
		" elapsed, " + formatHours(s.HoursLeft) + " left)"
	if s.Team != "" {
		f += " · team " + s.Team
	}
	return f
}

func commitmentTiles(s figures.Status) []tile {
	u := unitLabel(s)
	return []tile{
		{"utilization", formatNum(100*s.Utilization, 1), "%", formatAmount(s, s.UsedToDate) + " of " +
			formatAmount(s, s.CommittedToDate) + " " + u + " to date"},
		{"forecast at the 7-day rate", formatAmount(s, s.Forecast7d), u, "of " + formatAmount(s, s.CommitmentTotal) +
			" committed" + shortfallSub(s)},
		{"required rate", formatAmount(s, s.RequiredRate), u + "/h", "now " + formatAmount(s, s.Rate7d) + " " + u + "/h (over " + rateWindow(s) + ")"},
		{"overflow", formatNum(s.OverflowGPUHours, 1), "GPU-h", cmp.Or(splitOrNone(s), "on no other provider")},
		{"leakage", formatNum(s.LeakageGPUHours, 1), "GPU-h", formatNum(s.Leakage24hGPUHours, 1) + " GPU-h in the last 24 h"},
		{"busy", formatNum(100*s.Efficiency, 1), "%", "of the GPU-hours used"},
	}
}

func shortfallSub(s figures.Status) string {
	if s.ProjectedShortfall7d <= 0 {
		return ""
	}
	return ", " + formatAmount(s, s.ProjectedShortfall7d) + shortfallPct(s) + " short"
}

func splitOrNone(s figures.Status) string {
	split := overflowSplit(s)
	if len(split) == 0 {
		return ""
	}
	out := ""
	for i, p := range split {
		if i > 0 {
			out += ", "
		}
		out += p.Provider + " " + formatNum(p.GPUHours, 1)
	}
	return out
}

// dailyTableRows is WriteDaily's table as cells.
func dailyTableRows(rows []figures.DailyUsage) [][]string {
	var out [][]string
	for _, r := range rows {
		out = append(out, []string{r.Day.Format(time.DateOnly), r.Provider, formatNum(float64(r.GPUs), 0),
			formatNum(r.ProvisionedHours, 1), formatNum(r.BusyHours, 1), formatNum(100*r.Efficiency(), 1), formatNum(r.EnergyKWh, 1)})
	}
	for _, t := range figures.ProviderTotals(rows) {
		out = append(out, []string{"total", t.Provider, "", formatNum(t.ProvisionedHours, 1), formatNum(t.BusyHours, 1),
			formatNum(100*t.Efficiency(), 1), formatNum(t.EnergyKWh, 1)})
	}
	return out
}

var pageTemplate = template.Must(template.Must(template.New("page").Funcs(template.FuncMap{"px": px}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1f2937;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #111827; color: #f9fafb; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; }
header p { margin: 4px 0 0; color: #d1d5db; }
header code { color: #f9fafb; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 40px; }
h2 { font-size: 17px; margin: 28px 0 10px; color: #111827; }
h3 { font-size: 16px; margin: 0; }
h3 .name { font-weight: 400; color: #6b7280; margin-left: 8px; }
.panel, .card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 16px 18px;
  box-shadow: 0 1px 2px rgba(0, 0, 0, 0.04); margin-bottom: 18px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; color: #374151; padding: 4px 0 8px; }
th, td { padding: 6px 8px; border-bottom: 1px solid #eef0f3; text-align: right; white-space: nowrap; }
th { font-size: 12px; font-weight: 600; color: #6b7280; background: #f9fafb; vertical-align: bottom; white-space: normal; }
td.wrap { white-space: normal; min-width: 150px; max-width: 220px; }
td .sub { font-size: 12px; color: #6b7280; }
table.summary td { vertical-align: top; }
th:first-child, td:first-child, td.text, table.summary th:nth-child(2) { text-align: left; }
th .unit { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.id { font-weight: 600; text-align: left; }
ul.verdicts { list-style: none; margin: 12px 0 0; padding: 0; }
ul.verdicts li { margin: 6px 0; }
.badge { display: inline-block; min-width: 78px; text-align: center; border-radius: 999px; padding: 1px 10px;
  font-size: 12px; font-weight: 600; margin-right: 8px; }
.badge.ok { background: #dcfce7; color: #166534; }
.badge.warn { background: #fef3c7; color: #92400e; }
.badge.bad { background: #fee2e2; color: #991b1b; }
.badge.info { background: #e0e7ff; color: #3730a3; }
.facts { color: #4b5563; margin: 4px 0 8px; }
.verdict { margin: 8px 0 12px; padding: 8px 12px; border-left: 4px solid #9ca3af; background: #f9fafb; border-radius: 4px; }
.verdict.ok { border-color: #16a34a; }
.verdict.warn { border-color: #d97706; }
.verdict.bad { border-color: #dc2626; }
.verdict.info { border-color: #6366f1; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; margin-bottom: 10px; }
.tile { border: 1px solid #eef0f3; border-radius: 8px; padding: 8px 10px; }
.tile .label { font-size: 12px; color: #6b7280; }
.tile .value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.tile .unit { font-size: 12px; font-weight: 500; color: #6b7280; margin-left: 4px; }
.tile .sub { font-size: 12px; color: #6b7280; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; }
svg .grid { stroke: #eceef1; stroke-width: 1; }
svg .axis { stroke: #9ca3af; stroke-width: 1; }
svg .tick { fill: #6b7280; font-size: 11px; }
svg .axislabel { fill: #374151; font-size: 12px; }
svg .legend { fill: #374151; font-size: 12px; }
svg .committed { stroke: #6b7280; stroke-width: 1.5; fill: none; }
svg .used { stroke: #2563eb; stroke-width: 2.5; fill: none; stroke-linejoin: round; }
svg .usedarea { fill: #2563eb; fill-opacity: 0.1; stroke: none; }
svg .forecast { stroke: #2563eb; stroke-width: 2; stroke-dasharray: 7 5; fill: none; }
svg .total { stroke: #d97706; stroke-width: 1.5; stroke-dasharray: 3 3; }
svg .short { stroke: #dc2626; stroke-width: 2.5; }
svg .atline { stroke: #6b7280; stroke-width: 1; stroke-dasharray: 2 3; }
svg .atlabel { fill: #6b7280; font-size: 11px; }
svg .dot-used { fill: #2563eb; }
svg .dot-forecast { fill: #fff; stroke: #2563eb; stroke-width: 2; }
svg .lbl { font-size: 12px; }
svg .lbl-total { fill: #b45309; font-weight: 600; }
svg .lbl-forecast { fill: #1d4ed8; }
svg .lbl-short { fill: #dc2626; font-weight: 600; }
svg .bar { stroke: #fff; stroke-width: 0.5; }
svg .barlabel { fill: #374151; font-size: 11px; }
svg .swatch { stroke: none; }
svg .empty { fill: #9ca3af; font-size: 14px; }
details summary { cursor: pointer; color: #374151; margin-top: 8px; }
footer { color: #9ca3af; font-size: 12px; text-align: center; padding: 0 0 24px; }
</style>
</head>
<body>
<header>
<h1>GPU commitments</h1>
<p>as of <strong>{{.At}}</strong> · database <code>{{.Database}}</code> · figures over the complete hours before it</p>
</header>
<main>
<h2>Summary</h2>
<div class="panel">
{{- if not .Groups}}<p>No commitments.</p>{{end}}
{{- range .Groups}}
<div class="scroll">
<table class="summary">
<caption>amounts in {{.Unit}}</caption>
<thead><tr>{{range .HTMLHeaders}}<th>{{.Text}}{{with .Unit}} <span class="unit">{{.}}</span>{{end}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr>{{range .HTML}}<td{{with .Class}} class="{{.}}"{{end}}>{{.Main}}{{if .Sub}}<div class="sub">{{.Sub}}</div>{{end}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</div>
{{- end}}
{{- if .Cards}}
<ul class="verdicts">
{{- range .Cards}}
<li><span class="badge {{.Level}}">{{.LevelText}}</span><strong>{{.ID}}</strong>: {{.Verdict}}</li>
{{- end}}
</ul>
{{- end}}
</div>
{{- range .Cards}}
<section class="card" id="commitment-{{.ID}}">
<h3>{{.ID}}{{if ne .Name .ID}}<span class="name">{{.Name}}</span>{{end}}</h3>
<p class="facts">{{.Facts}}</p>
<p class="verdict {{.Level}}"><span class="badge {{.Level}}">{{.LevelText}}</span>{{.Verdict}}</p>
<div class="tiles">
{{- range .Tiles}}
<div class="tile"><div class="label">{{.Label}}</div><div class="value">{{.Value}}<span class="unit">{{.Unit}}</span></div><div class="sub">{{.Sub}}</div></div>
{{- end}}
</div>
{{template "svg" .Chart}}
</section>
{{- end}}
<h2>GPU-hours per day by provider</h2>
<div class="panel">
{{template "svg" .Daily}}
{{- if .DailyRows}}
<details>
<summary>daily table</summary>
<div class="scroll">
<table>
<thead><tr><th>day</th><th>provider</th><th>GPUs</th><th>GPU-hours</th><th>busy GPU-hours</th><th>busy %</th><th>energy kWh</th></tr></thead>
<tbody>
{{- range .DailyRows}}
<tr>{{range $i, $c := .}}{{if lt $i 2}}<td class="text">{{$c}}</td>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>
{{- end}}
</tbody>
</table>
</div>
</details>
{{- end}}
</div>
{{- if .TeamTables}}
<h2>GPU-hours and cost per team</h2>
<div class="panel">
{{- range .TeamTables}}
<div class="scroll">
<table>
<thead><tr><th>{{.K1}}</th><th>{{.K2}}</th><th>GPU-hours</th><th>busy %</th><th>cost</th></tr></thead>
<tbody>
{{- range .Cells}}
<tr>{{range $i, $c := .}}{{if lt $i 2}}<td class="text">{{$c}}</td>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>
{{- end}}
</tbody>
</table>
</div>
{{- end}}
</div>
{{- end}}
{{template "rofr" .ROFR}}
</main>
<footer>gpumeter · GPU-hours are provisioned (billed) hours; busy is an efficiency figure beside them</footer>
</body>
</html>
{{define "svg"}}<svg class="chart" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Label}}">
{{- range .Elems}}
{{- if eq .Kind "line"}}<line class="{{.Class}}" x1="{{px .X}}" y1="{{px .Y}}" x2="{{px .X2}}" y2="{{px .Y2}}"/>
{{- else if eq .Kind "polyline"}}<polyline class="{{.Class}}" points="{{.Points}}"/>
{{- else if eq .Kind "polygon"}}<polygon class="{{.Class}}" points="{{.Points}}"/>
{{- else if eq .Kind "circle"}}<circle class="{{.Class}}" cx="{{px .X}}" cy="{{px .Y}}" r="{{px .R}}"/>
{{- else if eq .Kind "rect"}}<rect class="{{.Class}}" x="{{px .X}}" y="{{px .Y}}" width="{{px .W}}" height="{{px .H}}" fill="{{.Fill}}">{{if .Tip}}<title>{{.Tip}}</title>{{end}}</rect>
{{- else if eq .Kind "text"}}<text class="{{.Class}}" x="{{px .X}}" y="{{px .Y}}" text-anchor="{{.Anchor}}"{{if .Rotate}} transform="rotate(-90 {{px .X}} {{px .Y}})"{{end}}>{{.Text}}</text>
{{- end}}
{{- end}}
</svg>
{{end}}`)).Parse(rofrTemplate))
