package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// The right-of-first-refusal section (schema/README.md, "Right of first refusal"): per request what it released and
// how much of it was used, per overflow provider covered / leakage / uncovered GPU-hours and money, and the hours of
// exposure. Present when the commitments file declares a primary (Report.ROFR not nil).

// rofrExposureRows is how many exposed hours the table and the page list before saying how many more there are (the
// JSON and CSV carry them all).
const rofrExposureRows = 48

func writeROFRTable(w io.Writer, r *figures.ROFR) error {
	fmt.Fprintf(w, "\nright of first refusal: %s (commitments %s); overflow GPU-hours to date by class\n",
		r.Primary.Provider, strings.Join(r.Primary.Commitments, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "provider\tcovered GPU-h\tleakage GPU-h\tuncovered GPU-h\tcovered cost\tleakage cost\tuncovered cost\tuncovered last 24 h GPU-h\t")
	rows := append(append([]figures.ROFRProvider{}, r.Providers...), r.Totals())
	rows[len(rows)-1].Provider = "total"
	for _, p := range rows {
		u24 := r.Uncovered24h[p.Provider]
		if p.Provider == "total" {
			u24 = 0
			for _, v := range r.Uncovered24h {
				u24 += v
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Provider, formatNum(p.Covered, 1), formatNum(p.Leakage, 1),
			formatNum(p.Uncovered, 1), rofrMoney(p, p.CoveredCost), rofrMoney(p, p.LeakageCost), rofrMoney(p, p.UncoveredCost),
			formatNum(u24, 1))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nrequests to the primary: what each refusal released and how much covered overflow")
	if len(r.Releases) == 0 {
		fmt.Fprintln(w, "no refusal released capacity")
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "request\tanswer\tasked / accepted GPUs\tto\tGPUs\tGPU model\tfrom\tuntil\treleased GPU-h\tused GPU-h\tused %\t")
		for _, rel := range r.Releases {
			fmt.Fprintf(tw, "%s\t%s\t%d / %d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", rel.RequestID, rel.Status, rel.GPUs,
				rel.AcceptedGPUs, rel.Provider, rel.ReleaseGPUs, rel.GPUModel, formatTime(rel.From), formatTime(rel.To),
				formatNum(rel.ReleasedGPUHours, 1), formatNum(rel.UsedGPUHours, 1), usedPct(rel))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nhours of exposure (uncovered overflow: no refusal releases it)")
	if len(r.Exposure) == 0 {
		fmt.Fprintln(w, "none")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hour\tprovider\tGPU model\tGPU-h\t")
	for i, h := range r.Exposure {
		if i == rofrExposureRows {
			fmt.Fprintf(tw, "… %d more hours (JSON and CSV list them all)\t\t\t\t\n", len(r.Exposure)-i)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", formatTime(h.Hour), h.Provider, h.GPUModel, formatNum(h.GPUHours, 1))
	}
	return tw.Flush()
}

func rofrMoney(p figures.ROFRProvider, v float64) string {
	if p.Currency == "" {
		return "-"
	}
	s := formatNum(v, 2) + " " + p.Currency
	if p.Unpriced > 0 {
		s += " (" + formatNum(p.Unpriced, 1) + " GPU-h unpriced)"
	}
	return s
}

func usedPct(rel figures.ROFRRelease) string {
	if rel.ReleasedGPUHours <= 0 {
		return "-"
	}
	return formatNum(100*rel.UsedGPUHours/rel.ReleasedGPUHours, 1)
}

// rofrColumns are the ROFR CSV's columns: one row per hour, overflow provider, GPU model, class and covering request.
var rofrColumns = []string{"hour", "primary", "provider", "gpu_model", "class", "request_id", "gpu_hours", "cost", "currency"}

// WriteROFRCSV writes the ROFR classification, one row per hour, provider, GPU model, class and request (gpu_hours
// and cost rounded to 3 and 2 decimals; the JSON keeps full precision). Nothing but the header when the commitments
// file declares no primary.
func WriteROFRCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(rofrColumns); err != nil {
		return err
	}
	if r.ROFR != nil {
		for _, h := range r.ROFR.Hours {
			cost := ""
			if h.Priced {
				cost = fmt.Sprintf("%.2f", h.Cost)
			}
			if err := cw.Write([]string{formatRFC3339(h.Hour), r.ROFR.Primary.Provider, h.Provider, h.GPUModel, h.Class,
				h.RequestID, fmt.Sprintf("%.3f", h.GPUHours), cost, h.Currency}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

type jsonROFRHour struct {
	Hour      string     `json:"hour"`
	Provider  string     `json:"provider"`
	GPUModel  string     `json:"gpu_model"`
	Class     string     `json:"class"`
	RequestID string     `json:"request_id,omitempty"`
	GPUHours  jsonFloat  `json:"gpu_hours"`
	Cost      *jsonFloat `json:"cost"`
	Currency  string     `json:"currency,omitempty"`
}

type jsonROFRProvider struct {
	Provider             string    `json:"provider"`
	CoveredGPUHours      jsonFloat `json:"covered_gpu_hours"`
	LeakageGPUHours      jsonFloat `json:"leakage_gpu_hours"`
	UncoveredGPUHours    jsonFloat `json:"uncovered_gpu_hours"`
	Uncovered24hGPUHours jsonFloat `json:"uncovered_24h_gpu_hours"`
	CoveredCost          jsonFloat `json:"covered_cost"`
	LeakageCost          jsonFloat `json:"leakage_cost"`
	UncoveredCost        jsonFloat `json:"uncovered_cost"`
	Currency             string    `json:"currency"`
	UnpricedGPUHours     jsonFloat `json:"unpriced_gpu_hours"`
}

type jsonROFRRelease struct {
	RequestID        string    `json:"request_id"`
	Status           string    `json:"status"`
	GPUs             int       `json:"gpus"`
	AcceptedGPUs     int       `json:"accepted_gpus"`
	Provider         string    `json:"provider"`
	ReleaseGPUs      int       `json:"release_gpus"`
	GPUModel         string    `json:"gpu_model"`
	From             string    `json:"released_from"`
	To               string    `json:"released_until"`
	ReleasedGPUHours jsonFloat `json:"released_gpu_hours"`
	UsedGPUHours     jsonFloat `json:"used_gpu_hours"`
}

type jsonROFR struct {
	Primary                 string             `json:"primary"`
	Commitments             []string           `json:"commitments"`
	MaxUncoveredGPUHours24h jsonFloat          `json:"alert_max_uncovered_gpu_hours_24h"`
	Providers               []jsonROFRProvider `json:"providers"`
	Releases                []jsonROFRRelease  `json:"releases"`
	Exposure                []jsonROFRHour     `json:"exposure"`
	Hours                   []jsonROFRHour     `json:"hours"`
}

// rofrJSON is the section for WriteJSON; nil when the file declares no primary.
func rofrJSON(r *figures.ROFR) *jsonROFR {
	if r == nil {
		return nil
	}
	hours := func(hs []figures.ROFRHour) []jsonROFRHour {
		out := []jsonROFRHour{}
		for _, h := range hs {
			j := jsonROFRHour{Hour: formatRFC3339(h.Hour), Provider: h.Provider, GPUModel: h.GPUModel, Class: h.Class,
				RequestID: h.RequestID, GPUHours: jsonFloat(h.GPUHours), Currency: h.Currency}
			if h.Priced {
				c := jsonFloat(h.Cost)
				j.Cost = &c
			}
			out = append(out, j)
		}
		return out
	}
	out := &jsonROFR{Primary: r.Primary.Provider, Commitments: r.Primary.Commitments,
		MaxUncoveredGPUHours24h: jsonFloat(r.Primary.MaxUncoveredGPUHours24h), Providers: []jsonROFRProvider{},
		Releases: []jsonROFRRelease{}, Exposure: hours(r.Exposure), Hours: hours(r.Hours)}
	for _, p := range r.Providers {
		out.Providers = append(out.Providers, jsonROFRProvider{Provider: p.Provider, CoveredGPUHours: jsonFloat(p.Covered),
			LeakageGPUHours: jsonFloat(p.Leakage), UncoveredGPUHours: jsonFloat(p.Uncovered),
			Uncovered24hGPUHours: jsonFloat(r.Uncovered24h[p.Provider]), CoveredCost: jsonFloat(p.CoveredCost),
			LeakageCost: jsonFloat(p.LeakageCost), UncoveredCost: jsonFloat(p.UncoveredCost), Currency: p.Currency,
			UnpricedGPUHours: jsonFloat(p.Unpriced)})
	}
	for _, rel := range r.Releases {
		out.Releases = append(out.Releases, jsonROFRRelease{RequestID: rel.RequestID, Status: rel.Status, GPUs: rel.GPUs,
			AcceptedGPUs: rel.AcceptedGPUs, Provider: rel.Provider, ReleaseGPUs: rel.ReleaseGPUs, GPUModel: rel.GPUModel,
			From: formatRFC3339(rel.From), To: formatRFC3339(rel.To), ReleasedGPUHours: jsonFloat(rel.ReleasedGPUHours),
			UsedGPUHours: jsonFloat(rel.UsedGPUHours)})
	}
	return out
}

// htmlROFR is the page's section.
type htmlROFR struct {
	Primary, Commitments string
	Providers            [][]string
	Releases             [][]string
	Exposure             [][]string
	MoreExposure         int
	Chart                svgDrawing
}

var rofrClassColors = map[string]string{figures.ClassCovered: "#16a34a", figures.ClassLeakage: "#d97706",
	figures.ClassUncovered: "#dc2626"}

func rofrHTML(r *figures.ROFR) *htmlROFR {
	if r == nil {
		return nil
	}
	out := &htmlROFR{Primary: r.Primary.Provider, Commitments: strings.Join(r.Primary.Commitments, ", ")}
	rows := append(append([]figures.ROFRProvider{}, r.Providers...), r.Totals())
	rows[len(rows)-1].Provider = "total"
	for _, p := range rows {
		out.Providers = append(out.Providers, []string{p.Provider, formatNum(p.Covered, 1), formatNum(p.Leakage, 1),
			formatNum(p.Uncovered, 1), rofrMoney(p, p.CoveredCost), rofrMoney(p, p.LeakageCost), rofrMoney(p, p.UncoveredCost)})
	}
	for _, rel := range r.Releases {
		out.Releases = append(out.Releases, []string{rel.RequestID, rel.Status, fmt.Sprintf("%d / %d", rel.GPUs, rel.AcceptedGPUs),
			rel.Provider, fmt.Sprint(rel.ReleaseGPUs), formatTime(rel.From), formatTime(rel.To),
			formatNum(rel.ReleasedGPUHours, 1), formatNum(rel.UsedGPUHours, 1), usedPct(rel)})
	}
	for i, h := range r.Exposure {
		if i == rofrExposureRows {
			out.MoreExposure = len(r.Exposure) - i
			break
		}
		out.Exposure = append(out.Exposure, []string{formatTime(h.Hour), h.Provider, h.GPUModel, formatNum(h.GPUHours, 1)})
	}
	byDay := map[time.Time]map[string]float64{}
	for _, h := range r.Hours {
		day := h.Hour.Truncate(24 * time.Hour)
		if byDay[day] == nil {
			byDay[day] = map[string]float64{}
		}
		byDay[day][h.Class] += h.GPUHours
	}
	out.Chart = stackedDaysChart("Overflow GPU-hours per day by right-of-first-refusal class", byDay,
		[]string{figures.ClassCovered, figures.ClassLeakage, figures.ClassUncovered}, rofrClassColors)
	return out
}

// rofrTemplate is the page's section, included by render_html.go's template.
const rofrTemplate = `{{define "rofr"}}{{with .}}
<h2>Right of first refusal: {{.Primary}}</h2>
<div class="panel">
<p>Every overflow GPU-hour of {{.Commitments}}: <strong>covered</strong> by capacity a refusal of {{.Primary}}
released, <strong>leakage</strong> while the commitment had idle room, or <strong>uncovered</strong> (exposure: no
refusal releases it).</p>
{{template "svg" .Chart}}
<div class="scroll"><table>
<thead><tr><th>provider</th><th>covered GPU-h</th><th>leakage GPU-h</th><th>uncovered GPU-h</th><th>covered cost</th><th>leakage cost</th><th>uncovered cost</th></tr></thead>
<tbody>{{range .Providers}}<tr>{{range $i, $c := .}}{{if eq $i 0}}<td class="text">{{$c}}</td>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>{{end}}</tbody>
</table></div>
<h3>Requests to {{.Primary}}</h3>
{{if .Releases}}<div class="scroll"><table>
<thead><tr><th>request</th><th>answer</th><th>asked / accepted GPUs</th><th>to</th><th>GPUs</th><th>from</th><th>until</th><th>released GPU-h</th><th>used GPU-h</th><th>used %</th></tr></thead>
<tbody>{{range .Releases}}<tr>{{range $i, $c := .}}{{if lt $i 2}}<td class="text">{{$c}}</td>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>{{end}}</tbody>
</table></div>{{else}}<p>No refusal released capacity.</p>{{end}}
<h3>Hours of exposure</h3>
{{if .Exposure}}<details><summary>{{len .Exposure}}{{if .MoreExposure}} (+{{.MoreExposure}}){{end}} uncovered hours</summary><div class="scroll"><table>
<thead><tr><th>hour</th><th>provider</th><th>GPU model</th><th>GPU-h</th></tr></thead>
<tbody>{{range .Exposure}}<tr>{{range $i, $c := .}}{{if lt $i 3}}<td class="text">{{$c}}</td>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>{{end}}</tbody>
</table></div></details>{{else}}<p>None: every overflow GPU-hour is covered by a refusal or counted as leakage.</p>{{end}}
</div>
{{end}}{{end}}`
