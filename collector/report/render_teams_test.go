package report

import (
	"bytes"
	"strings"
	"testing"
)

// The team sections in the table, and the daily and team sections as CSV files of their own, rounded for people
// while the JSON keeps full precision.
func TestTeamSectionsAndCSVFiles(t *testing.T) {
	r := handReport()
	table := string(render(t, WriteTable, r))
	for _, want := range []string{
		"GPU-hours and cost per team and provider",
		"research         azure       15.0    50.0  32.50 USD", // 13 + 2 GPU-h, busy 7 of 14, only the covered part priced
		"(none)           aws        2.0   50.0  20.00 USD",
		"GPU-hours and cost per commitment and team",
	} {
		if !strings.Contains(strings.Join(strings.Fields(table), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if len(CSVFiles) != 3 || CSVFiles[0].Suffix != "" {
		t.Fatalf("CSV files %v: want the commitments, then the daily and team sections", CSVFiles)
	}
	daily := string(render(t, WriteDailyCSV, r))
	if !strings.HasPrefix(daily, "day,provider,gpus,provisioned_gpu_hours,busy_gpu_hours,busy_known_gpu_hours,busy_share,energy_kwh\n") ||
		!strings.Contains(daily, "2026-10-03,aws,8,150.5,90,150.5,0.598,80.2\n") {
		t.Errorf("daily CSV:\n%s", daily)
	}
	teams := string(render(t, WriteTeamsCSV, r))
	if !strings.Contains(teams, "research,oracle_cloud,,6,3,6,0.5,60.12,USD\n") {
		t.Errorf("team CSV (cost rounded to the cent):\n%s", teams)
	}
	if js := render(t, WriteJSON, r); !bytes.Contains(js, []byte(`"cost": 60.123456`)) {
		t.Errorf("JSON team cost not in full precision:\n%s", js)
	}
	html := string(render(t, WriteHTML, r))
	if !strings.Contains(html, "<h2>GPU-hours and cost per team</h2>") || !strings.Contains(html, "32.50 USD") {
		t.Error("HTML lacks the team section")
	}
}
