package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
)

// The worked example's figures (schema/README.md, "Right of first refusal") in every format.
func rofrExample() *figures.ROFR {
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := &figures.ROFR{
		Primary: commitment.Primary{Provider: "azure", Commitments: []string{"az-nd"}},
		Providers: []figures.ROFRProvider{{Provider: "oracle_cloud", Covered: 768, Leakage: 3, Uncovered: 384,
			CoveredCost: 7680, LeakageCost: 30, UncoveredCost: 3840, Currency: "USD"}},
		Releases: []figures.ROFRRelease{{RequestID: "req-1", Provider: "oracle_cloud", GPUModel: "H100",
			Status: "declined", GPUs: 16, ReleaseGPUs: 16, From: day1, To: day1.Add(48 * time.Hour),
			ReleasedGPUHours: 768, UsedGPUHours: 768}},
		Uncovered24h: map[string]float64{"oracle_cloud": 384},
	}
	for h := range 72 {
		class, req := figures.ClassCovered, "req-1"
		if h >= 48 {
			class, req = figures.ClassUncovered, ""
		}
		row := figures.ROFRHour{Hour: day1.Add(time.Duration(h) * time.Hour), Provider: "oracle_cloud", GPUModel: "H100",
			Class: class, RequestID: req, GPUHours: 16, Cost: 160, Currency: "USD", Priced: true}
		r.Hours = append(r.Hours, row)
		if class == figures.ClassUncovered {
			r.Exposure = append(r.Exposure, row)
		}
	}
	return r
}

func TestROFRSection(t *testing.T) {
	r := Report{At: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), Database: "gm", ROFR: rofrExample()}
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	for _, want := range []string{"right of first refusal: azure (commitments az-nd)", "768.0", "384.0",
		"7,680.00 USD", "req-1", "declined", "16 / 0", "100.0", "2026-11-03 00:00 UTC"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	b.Reset()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ROFR struct {
			Primary   string `json:"primary"`
			Providers []struct {
				Covered   float64 `json:"covered_gpu_hours"`
				Uncovered float64 `json:"uncovered_24h_gpu_hours"`
			} `json:"providers"`
			Exposure []struct{ Hour string } `json:"exposure"`
		} `json:"rofr"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ROFR.Primary != "azure" || len(doc.ROFR.Providers) != 1 || doc.ROFR.Providers[0].Covered != 768 ||
		doc.ROFR.Providers[0].Uncovered != 384 || len(doc.ROFR.Exposure) != 24 {
		t.Errorf("json rofr %+v", doc.ROFR)
	}
	b.Reset()
	if err := WriteROFRCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 73 || lines[0] != "hour,primary,provider,gpu_model,class,request_id,gpu_hours,cost,currency" ||
		lines[1] != "2026-11-01T00:00:00Z,azure,oracle_cloud,H100,covered,req-1,16.000,160.00,USD" {
		t.Errorf("csv: %d lines, head %q", len(lines), lines[:2])
	}
	b.Reset()
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"Right of first refusal: azure", "Overflow GPU-hours per day by right-of-first-refusal class",
		"#dc2626", "24 uncovered hours"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Without a primary there is no section.
	r.ROFR = nil
	b.Reset()
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "right of first refusal") {
		t.Errorf("a section without a primary")
	}
}
