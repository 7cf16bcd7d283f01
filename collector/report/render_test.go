package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
)

var (
	update   = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the renderers write now")
	htmlPath = flag.String("html", "", "also write the realistic report's HTML to this file, to look at")
)

var renderTermStart = time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)

// handReport is the worked example of commitments_test.go for two of its commitments (ten-hour terms, figures at
// hour 5), with their series, and three days of usage by provider.
func handReport() Report {
	end := renderTermStart.Add(10 * time.Hour)
	at := renderTermStart.Add(5*time.Hour + 30*time.Minute)
	alerts := func(s *figures.Status) {
		s.AlertProjectedShortfallPct, s.AlertMinUtilizationPct, s.AlertMaxLeakageGPUHours24h = 5, 80, 10
	}
	capacity := figures.Status{ID: "cap", Name: `ND H100 v5 <East US> & "friends"`, Provider: "azure", Kind: "capacity",
		Unit: "gpu", Team: "ml-platform", Quantity: 4, TermStart: renderTermStart, TermEnd: end,
		TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 40, CommittedToDate: 20, UsedToDate: 13,
		Utilization: 0.65, ShortfallToDate: 7, RateLinear: 2.6, Rate7d: 2.6, ForecastLinear: 26, Forecast7d: 26,
		ProjectedShortfallLinear: 14, ProjectedShortfall7d: 14, RequiredRate: 5.4, UsedGPUHours: 15,
		OverflowGPUHours: 8, LeakageGPUHours: 5, Leakage24hGPUHours: 5, Efficiency: 0.5,
		OverflowByProvider: map[string]float64{"oracle_cloud": 6, "aws": 2},
		MoneyCurrency:      "USD", OverflowCost: 52, LeakageCost: 32.5, Leakage24hCost: 32.5, CommittedPrice: 2.5,
		UnusedValue: 17.5, UnusedValueCurrency: "USD"}
	alerts(&capacity)
	spend := figures.Status{ID: "spend", Name: "spend", Provider: "aws", Kind: "spend", Unit: "USD", Quantity: 1000,
		TermStart: renderTermStart, TermEnd: end, TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 1000,
		CommittedToDate: 500, UsedToDate: 20, Utilization: 0.04, ShortfallToDate: 480, RateLinear: 4, Rate7d: 4,
		ForecastLinear: 40, Forecast7d: 40, ProjectedShortfallLinear: 960, ProjectedShortfall7d: 960, RequiredRate: 196,
		UsedGPUHours: 2, OverflowGPUHours: 26, LeakageGPUHours: 26, Leakage24hGPUHours: 26, Efficiency: 0.5,
		OverflowByProvider: map[string]float64{"azure": 20, "oracle_cloud": 6}, UnusedValue: 480, UnusedValueCurrency: "USD"}
	alerts(&spend)
	series := func(id string, committed float64, used ...float64) figures.Series {
		s := figures.Series{Commitment: id}
		var c, u float64
		for i, v := range used {
			c += committed
			u += v
			s.Points = append(s.Points, figures.SeriesPoint{Hour: renderTermStart.Add(time.Duration(i) * time.Hour), CommittedCum: c, UsedCum: u})
		}
		return s
	}
	day := func(d int) time.Time { return renderTermStart.AddDate(0, 0, d-2) }
	return Report{
		Teams: []figures.TeamUsage{
			{Team: "research", Provider: "azure", CommitmentID: "cap", Currency: "USD", GPUHours: 13, BusyGPUHours: 6, BusyKnownGPUHours: 12, Cost: 32.5},
			{Team: "research", Provider: "azure", GPUHours: 2, BusyGPUHours: 1, BusyKnownGPUHours: 2},
			{Team: "", Provider: "aws", CommitmentID: "spend", Currency: "USD", GPUHours: 2, BusyGPUHours: 1, BusyKnownGPUHours: 2, Cost: 20},
			{Team: "research", Provider: "oracle_cloud", Currency: "USD", GPUHours: 6, BusyGPUHours: 3, BusyKnownGPUHours: 6, Cost: 60.123456},
		},
		At: at, Database: "gpumeter", Commitments: []figures.Status{capacity, spend},
		Series: map[string]figures.Series{"cap": series("cap", 4, 4, 4, 2, 0, 3), "spend": series("spend", 100, 0, 0, 0, 20, 0)},
		Daily: []figures.DailyUsage{
			{Day: day(0), Provider: "aws", GPUs: 8, ProvisionedHours: 150.5, BusyKnownHours: 150.5, BusyHours: 90, EnergyKWh: 80.2},
			{Day: day(0), Provider: "azure", GPUs: 32, ProvisionedHours: 1234.5, BusyKnownHours: 1234.5, BusyHours: 987.6, EnergyKWh: 650},
			{Day: day(1), Provider: "azure", GPUs: 30, ProvisionedHours: 1100, BusyKnownHours: 1100, BusyHours: 800, EnergyKWh: 600},
			{Day: day(1), Provider: "oracle_cloud", GPUs: 16, ProvisionedHours: 384, BusyKnownHours: 384, BusyHours: 300, EnergyKWh: 210},
			{Day: day(2), Provider: "azure", GPUs: 4, ProvisionedHours: 15, BusyKnownHours: 15, BusyHours: 7.5, EnergyKWh: 8},
			{Day: day(2), Provider: "oracle_cloud", GPUs: 3, ProvisionedHours: 6, BusyKnownHours: 6, BusyHours: 3, EnergyKWh: 3.1},
			{Day: day(2), Provider: "aws", GPUs: 2, ProvisionedHours: 2, BusyKnownHours: 2, BusyHours: 1, EnergyKWh: 1},
		},
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was written (run go test -update if the change is wanted):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func render(t *testing.T, write func(io.Writer, Report) error, r Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteTableGolden(t *testing.T) {
	got := render(t, WriteTable, handReport())
	checkGolden(t, "report_table.golden", got)
	for _, want := range []string{"amounts in GPU-h", "amounts in USD", "used / committed GPU-h", "required rate USD/h",
		"13.0 / 20.0", "8.0 (oracle_cloud 6.0, aws 2.0)", "projected shortfall 14.0 GPU-h (35%)", "2349.5"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestWriteCSVGolden(t *testing.T) {
	got := render(t, WriteCSV, handReport())
	checkGolden(t, "report_csv.golden", got)
	recs, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want a header and two rows", len(recs))
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	for _, c := range []string{"commitment_id", "utilization", "projected_shortfall_7d", "leakage_24h_gpu_hours",
		"overflow_aws_gpu_hours", "overflow_azure_gpu_hours", "overflow_oracle_cloud_gpu_hours"} {
		if _, ok := col[c]; !ok {
			t.Errorf("no column %s in %v", c, recs[0])
		}
	}
	if got := recs[1][col["overflow_oracle_cloud_gpu_hours"]]; got != "6" {
		t.Errorf("cap overflow on oracle_cloud = %q, want 6", got)
	}
	if got := recs[2][col["overflow_aws_gpu_hours"]]; got != "0" {
		t.Errorf("spend overflow on aws = %q, want 0", got)
	}
}

func TestWriteJSONGolden(t *testing.T) {
	got := render(t, WriteJSON, handReport())
	checkGolden(t, "report_json.golden", got)
	var doc struct {
		At          string `json:"at"`
		Commitments []struct {
			ID                 string             `json:"commitment_id"`
			Utilization        float64            `json:"utilization"`
			OverflowByProvider map[string]float64 `json:"overflow_by_provider"`
		} `json:"commitments"`
		Daily []struct {
			Day                 string  `json:"day"`
			ProvisionedGPUHours float64 `json:"provisioned_gpu_hours"`
		} `json:"daily"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.At != "2026-10-05T05:30:00Z" || len(doc.Commitments) != 2 || len(doc.Daily) != 7 {
		t.Fatalf("at %s, %d commitments, %d days", doc.At, len(doc.Commitments), len(doc.Daily))
	}
	if c := doc.Commitments[0]; c.ID != "cap" || c.Utilization != 0.65 || c.OverflowByProvider["oracle_cloud"] != 6 {
		t.Errorf("first commitment %+v", c)
	}
}

func TestWriteJSONNotFinite(t *testing.T) {
	r := handReport()
	r.Commitments[0].Efficiency = math.NaN()
	got := render(t, WriteJSON, r)
	if !bytes.Contains(got, []byte(`"efficiency": null`)) {
		t.Errorf("NaN efficiency not written as null:\n%s", got)
	}
}

// checkStandalone checks that a page loads nothing, names every commitment, and is well-formed XML throughout,
// the inline SVG included.
func checkStandalone(t *testing.T, page []byte, r Report) {
	t.Helper()
	s := string(page)
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "url(", "<img", "<iframe"} {
		if strings.Contains(strings.ToLower(s), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(s, "<svg"); n != len(r.Commitments)+1 {
		t.Errorf("%d charts, want one per commitment and the daily one", n)
	}
	for _, c := range r.Commitments {
		if !strings.Contains(s, `id="commitment-`+c.ID+`"`) {
			t.Errorf("no card for %s", c.ID)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = true
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements %v", stack)
	}
}

func TestWriteHTML(t *testing.T) {
	r := handReport()
	page := render(t, WriteHTML, r)
	checkStandalone(t, page, r)
	s := string(page)
	for _, want := range []string{
		"<title>GPU commitments as of 2026-10-05 05:30 UTC</title>", "<code>gpumeter</code>",
		"ND H100 v5 &lt;East US&gt; &amp; &#34;friends&#34;", // escaped, never raw
		"<td>13.0<div class=\"sub\">of 20.0</div></td>", `<td class="wrap">8.0<div class="sub">oracle_cloud 6.0, aws 2.0</div></td>`, "<td>65.0</td>", "<td>2,349.5</td>",
		"total 40.0 GPU-h", "forecast 26.0", "shortfall 14.0 (35%)", "total 1,000.00 USD",
		`class="forecast"`, `class="used"`, `class="committed"`, `class="total"`,
		"<title>2026-10-03 azure: 1,234.5 GPU-h</title>", ">oracle_cloud</text>", "projected shortfall 960.00 USD (96%)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if *htmlPath != "" {
		if err := os.WriteFile(strings.TrimSuffix(*htmlPath, ".html")+"_small.html", page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(s, "<East US>") {
		t.Error("a commitment's name reached the page unescaped")
	}
}

func TestWriteEmptyReport(t *testing.T) {
	r := Report{At: renderTermStart, Database: "empty"}
	for name, write := range map[string]func(io.Writer, Report) error{"table": WriteTable, "csv": WriteCSV, "json": WriteJSON, "html": WriteHTML} {
		got := render(t, write, r)
		if len(got) == 0 {
			t.Errorf("%s wrote nothing", name)
		}
	}
	checkStandalone(t, render(t, WriteHTML, r), r)
	if got := string(render(t, WriteJSON, r)); !strings.Contains(got, `"commitments": []`) || !strings.Contains(got, `"daily": []`) {
		t.Errorf("empty JSON report:\n%s", got)
	}
}

func TestVerdicts(t *testing.T) {
	r := handReport()
	base := r.Commitments[0]
	cases := []struct {
		name   string
		change func(*figures.Status)
		level  string
		prefix string
	}{
		// The worked example needs 5.4 GPU-h/h of a 4-GPU reservation: it cannot be met any more.
		{"beyond the reservation", func(*figures.Status) {}, "bad", "cannot be met any more: needs 5.4 GPU-h/h for the remaining 5 h, more than the 4 GPUs reserved; projected shortfall 14.0 GPU-h (35%)"},
		{"shortfall above alert", func(s *figures.Status) { s.RequiredRate = 3.9 }, "bad", "projected shortfall 14.0 GPU-h (35%)"},
		{"small shortfall", func(s *figures.Status) {
			s.ProjectedShortfall7d, s.Utilization, s.Leakage24hGPUHours, s.RequiredRate = 0.4, 0.99, 0, 3.9
		}, "warn", "projected shortfall 0.4 GPU-h (1%)"},
		{"on track", func(s *figures.Status) {
			s.ProjectedShortfall7d, s.Forecast7d, s.Utilization, s.Leakage24hGPUHours, s.RequiredRate = 0, 44, 0.95, 0, 3
		}, "ok", "on track: forecast 44.0 GPU-h of 40.0 GPU-h"},
		{"on track but leaking", func(s *figures.Status) {
			s.ProjectedShortfall7d, s.Utilization, s.Leakage24hGPUHours, s.RequiredRate = 0, 0.95, 12, 3
		}, "warn", "on track"},
		{"ended short", func(s *figures.Status) { s.HoursLeft, s.UsedToDate = 0, 30 }, "bad", "term ended 10.0 GPU-h (25%) short"},
		{"ended met", func(s *figures.Status) { s.HoursLeft, s.UsedToDate, s.Utilization, s.Leakage24hGPUHours = 0, 40, 1, 0 }, "ok", "term ended, commitment met"},
		{"not started", func(s *figures.Status) { s.TermStart = r.At.Add(time.Hour) }, "info", "starts "},
		{"used faster than its pace", func(s *figures.Status) {
			s.Kind, s.Unit, s.CommitmentTotal, s.UsedToDate, s.Rate7d, s.Forecast7d = "usage", "gpu_hour", 100, 50, 20, 150
			s.ProjectedShortfall7d, s.Utilization, s.Leakage24hGPUHours, s.HoursLeft = 0, 1.92, 0, 5
		}, "warn", "runs out 2026-10-05 07:30 UTC, 2.5 h before its term ends: used 50.0 GPU-h of 100.0 GPU-h at 20.0 GPU-h/h"},
		{"young term", func(s *figures.Status) { s.RequiredRate, s.HoursElapsed = 3.9, 12 }, "bad",
			"projected shortfall 14.0 GPU-h (35%): running at 2.6 GPU-h/h over the 12 h of the term so far"},
		{"cannot be met", func(s *figures.Status) { s.Kind, s.Quantity, s.RequiredRate, s.HoursLeft = "capacity", 16, 16.3, 108 },
			"bad", "cannot be met any more: needs 16.3 GPU-h/h for the remaining 4.5 days, more than the 16 GPUs reserved"},
	}
	for _, c := range cases {
		s := base
		c.change(&s)
		v := verdictOf(s, r.At)
		if v.Level != c.level || !strings.HasPrefix(v.Text, c.prefix) {
			t.Errorf("%s: %s %q, want %s %q...", c.name, v.Level, v.Text, c.level, c.prefix)
		}
	}
}

func TestFormatNum(t *testing.T) {
	for _, c := range []struct {
		v    float64
		dec  int
		want string
	}{
		{0, 1, "0.0"}, {999.95, 1, "1,000.0"}, {1234.56, 1, "1,234.6"}, {-1234567, 0, "-1,234,567"},
		{-0.04, 1, "0.0"}, {123456.789, 2, "123,456.79"}, {math.NaN(), 1, "n/a"}, {math.Inf(1), 1, "n/a"},
	} {
		if got := formatNum(c.v, c.dec); got != c.want {
			t.Errorf("formatNum(%g, %d) = %q, want %q", c.v, c.dec, got, c.want)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		max      float64
		top      float64
		n        int
		decimals int
	}{
		{41.6, 50, 6, 0}, {1040, 1250, 6, 0}, {0, 1, 6, 1}, {0.9, 1, 6, 1}, {560640, 600000, 4, 0}, {2.1, 2.5, 6, 1},
	} {
		ticks, top, dec := niceTicks(c.max, 5)
		if top != c.top || len(ticks) != c.n || dec != c.decimals || ticks[len(ticks)-1] < c.max {
			t.Errorf("niceTicks(%g) = %v, %g, %d; want top %g, %d ticks, %d decimals", c.max, ticks, top, dec, c.top, c.n, c.decimals)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		from, to time.Time
		first    string
		n        int
	}{
		{day, day.Add(10 * time.Hour), "Nov 1 00:00", 6},
		{day, day.AddDate(0, 0, 10), "Nov 1", 6},
		{day.Add(time.Hour), day.AddDate(0, 3, 0), "Dec 2026", 3},
		{day, day.AddDate(1, 0, 0), "Nov 2026", 7},
	} {
		ticks := timeTicks(c.from, c.to)
		if len(ticks) != c.n || ticks[0].Label != c.first {
			t.Errorf("timeTicks(%s, %s) = %v; want %d ticks from %q", c.from, c.to, ticks, c.n, c.first)
		}
		for _, tk := range ticks {
			if tk.T.Before(c.from) || tk.T.After(c.to) {
				t.Errorf("tick %s outside [%s, %s]", tk.T, c.from, c.to)
			}
		}
	}
}

// synthetic makes one commitment's hourly figures from the GPU-hours in its scope per hour, as the views would,
// and its figures.Status as commitment_status would compute it at at.
type synthetic struct {
	s     figures.Status
	price float64 // per GPU-hour, for a spend commitment
}

func (c synthetic) build(at time.Time, inScope func(time.Time) float64, elsewhere func(time.Time) map[string]float64) (figures.Status, figures.Series) {
	s := c.s
	s.TermHours = s.TermEnd.Sub(s.TermStart).Hours()
	s.CommitmentTotal = s.Quantity
	if s.Kind == "capacity" {
		s.CommitmentTotal = s.Quantity * s.TermHours
	}
	s.OverflowByProvider = map[string]float64{}
	series := figures.Series{Commitment: s.ID}
	end := at.Truncate(time.Hour)
	if s.TermEnd.Before(end) {
		end = s.TermEnd
	}
	var used7d, hours7d, busy float64
	for h := s.TermStart; h.Before(end); h = h.Add(time.Hour) {
		gpuHours := inScope(h)
		committed := s.Quantity / s.TermHours
		used := gpuHours
		switch s.Kind {
		case "capacity":
			committed, used = s.Quantity, min(s.Quantity, gpuHours)
		case "spend":
			used = gpuHours * c.price
		}
		unused := max(committed-used, 0)
		if s.Kind == "spend" {
			unused /= c.price
		}
		overflow := 0.0
		for p, v := range elsewhere(h) {
			s.OverflowByProvider[p] += v
			overflow += v
		}
		leak := min(overflow, unused)
		s.HoursElapsed++
		s.CommittedToDate += committed
		s.UsedToDate += used
		s.UsedGPUHours += gpuHours
		s.OverflowGPUHours += overflow
		s.LeakageGPUHours += leak
		busy += 0.72 * gpuHours
		if !h.Before(end.Add(-7 * 24 * time.Hour)) {
			used7d += used
			hours7d++
		}
		if !h.Before(end.Add(-24 * time.Hour)) {
			s.Leakage24hGPUHours += leak
		}
		series.Points = append(series.Points, figures.SeriesPoint{Hour: h, CommittedCum: s.CommittedToDate, UsedCum: s.UsedToDate})
	}
	s.HoursLeft = s.TermHours - s.HoursElapsed
	s.Utilization = s.UsedToDate / s.CommittedToDate
	s.ShortfallToDate = max(s.CommittedToDate-s.UsedToDate, 0)
	s.RateLinear = s.UsedToDate / s.HoursElapsed
	s.Rate7d = used7d / hours7d
	s.ForecastLinear = s.UsedToDate + s.RateLinear*s.HoursLeft
	s.Forecast7d = s.UsedToDate + s.Rate7d*s.HoursLeft
	s.ProjectedShortfallLinear = max(s.CommitmentTotal-s.ForecastLinear, 0)
	s.ProjectedShortfall7d = max(s.CommitmentTotal-s.Forecast7d, 0)
	s.RequiredRate = max(s.CommitmentTotal-s.UsedToDate, 0) / s.HoursLeft
	s.Efficiency = busy / s.UsedGPUHours
	s.AlertProjectedShortfallPct, s.AlertMinUtilizationPct, s.AlertMaxLeakageGPUHours24h = 5, 80, 10
	return s, series
}

// realisticReport is three H100 commitments, months into their terms: an Azure capacity reservation used less
// in one week and now leaking to the others, an OCI usage commitment on track, an AWS spend commitment falling short.
func realisticReport() Report {
	at := time.Date(2026, 11, 25, 15, 30, 0, 0, time.UTC)
	wave := func(h time.Time, phase float64) float64 {
		return math.Sin(2*math.Pi*(float64(h.Hour())+phase)/24) + 0.3*math.Sin(2*math.Pi*float64(h.YearDay())/9)
	}
	gpus := map[string]func(time.Time) float64{
		"azure": func(h time.Time) float64 {
			g := 21 + 3*wave(h, 0)
			if wd := h.Weekday(); wd == time.Saturday || wd == time.Sunday {
				g -= 5
			}
			if h.After(time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)) && h.Before(time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)) {
				g -= 9
			}
			if h.After(time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)) {
				g -= 4
			}
			return math.Max(math.Round(g), 0)
		},
		"oracle_cloud": func(h time.Time) float64 {
			g := 30 + 4*wave(h, 6)
			if h.After(time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)) {
				g += 6
			}
			return math.Round(g)
		},
		"aws": func(h time.Time) float64 { return math.Round(6 + 2*wave(h, 12)) },
	}
	others := func(provider string) func(time.Time) map[string]float64 {
		return func(h time.Time) map[string]float64 {
			out := map[string]float64{}
			for p, g := range gpus {
				if p != provider {
					out[p] = g(h)
				}
			}
			return out
		}
	}
	r := Report{At: at, Database: "gpumeter", Series: map[string]figures.Series{}}
	for _, c := range []synthetic{
		{s: figures.Status{ID: "aws-p5-spend-2026", Name: "AWS p5 private pricing, us-east-1", Provider: "aws", Kind: "spend",
			Unit: "USD", Quantity: 400000, Team: "research", TermStart: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC),
			TermEnd: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)}, price: 9.8},
		{s: figures.Status{ID: "azure-ndh100-eastus", Name: "Azure ND H100 v5 capacity reservation, East US", Provider: "azure",
			Kind: "capacity", Unit: "gpu", Quantity: 24, Team: "ml-platform", TermStart: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
			TermEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{s: figures.Status{ID: "oci-h100-usage-fy27", Name: "OCI H100 universal credits", Provider: "oracle_cloud", Kind: "usage",
			Unit: "gpu_hour", Quantity: 250000, TermStart: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
			TermEnd: time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		s, series := c.build(at, gpus[c.s.Provider], others(c.s.Provider))
		r.Commitments = append(r.Commitments, s)
		r.Series[s.ID] = series
	}
	providers := []string{"aws", "azure", "oracle_cloud"}
	for d := at.Truncate(24*time.Hour).AddDate(0, 0, -13); d.Before(at); d = d.AddDate(0, 0, 1) {
		for _, p := range providers {
			u := figures.DailyUsage{Day: d, Provider: p}
			for h := d; h.Before(d.Add(24*time.Hour)) && h.Before(at.Truncate(time.Hour)); h = h.Add(time.Hour) {
				g := gpus[p](h)
				u.GPUs = max(u.GPUs, uint64(g))
				u.ProvisionedHours += g
				u.BusyHours += 0.72 * g
				u.BusyKnownHours += g
				u.EnergyKWh += 0.55 * g
			}
			r.Daily = append(r.Daily, u)
		}
	}
	return r
}

func TestWriteHTMLRealistic(t *testing.T) {
	r := realisticReport()
	page := render(t, WriteHTML, r)
	checkStandalone(t, page, r)
	if len(page) > 1<<20 {
		t.Errorf("page is %d bytes: series not thinned", len(page))
	}
	verdicts := map[string]string{}
	for _, s := range r.Commitments {
		verdicts[s.ID] = verdictOf(s, r.At).Level
	}
	// The OCI usage commitment is consumed faster than its pace: it runs out before its term ends (a warning).
	want := map[string]string{"aws-p5-spend-2026": "bad", "azure-ndh100-eastus": "bad", "oci-h100-usage-fy27": "warn"}
	for id, level := range want {
		if verdicts[id] != level {
			t.Errorf("%s: verdict %s, want %s (%s)", id, verdicts[id], level, verdictOf(r.Commitments[slices.IndexFunc(r.Commitments, func(s figures.Status) bool { return s.ID == id })], r.At).Text)
		}
	}
	if *htmlPath != "" {
		if err := os.WriteFile(*htmlPath, page, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", *htmlPath)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
}
