package evaluate

import (
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
)

// The exposure alert fires per overflow provider above the primary's threshold, labelled like the commitment alerts.
func TestROFRAlerts(t *testing.T) {
	day3 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	r := figures.ROFR{
		Primary: commitment.Primary{Provider: "azure", Commitments: []string{"az-nd"}, MaxUncoveredGPUHours24h: 10},
		Exposure: []figures.ROFRHour{
			{Hour: day3, Provider: "oracle_cloud", Class: figures.ClassUncovered, GPUHours: 16},
			{Hour: day3.Add(23 * time.Hour), Provider: "oracle_cloud", Class: figures.ClassUncovered, GPUHours: 16},
		},
		Uncovered24h: map[string]float64{"oracle_cloud": 384, "aws": 10},
	}
	statuses := []figures.Status{{ID: "az-nd", Team: "platform"}, {ID: "other", Team: "research"}}
	got := ROFRAlerts(r, statuses)
	if len(got) != 1 {
		t.Fatalf("alerts %+v, want one (aws is at its threshold, not above)", got)
	}
	a := got[0]
	if a.Name != AlertROFRExposure || a.Labels["provider"] != "oracle_cloud" || a.Labels["commitment"] != "az-nd" ||
		a.Labels["primary"] != "azure" || a.Labels["severity"] != "warning" || a.Labels["team"] != "platform" {
		t.Errorf("alert %+v", a)
	}
	if !strings.Contains(a.Annotations["summary"], "384.0 GPU-hours ran on oracle_cloud") ||
		!strings.Contains(a.Annotations["description"], "from 2026-11-03T00:00Z to 2026-11-03T23:00Z") {
		t.Errorf("annotations %v", a.Annotations)
	}
	r.Primary.MaxUncoveredGPUHours24h = 400
	if got := ROFRAlerts(r, statuses); len(got) != 0 {
		t.Errorf("threshold 400: alerts %+v, want none", got)
	}
}
