//go:build integration

package report

import (
	"bytes"
	"io"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
)

// The series of the worked example, read back from ClickHouse, end where Commitments' figures to date are, and
// the whole report renders from what the database holds.
func TestCommitmentSeriesFromClickHouse(t *testing.T) {
	ctx := t.Context()
	end := figurestest.TermStart.Add(10 * time.Hour)
	st := figurestest.WorkedExample(t, commitment.Commitment{ID: "later", Name: "later", Provider: "azure", Kind: commitment.KindUsage,
		Quantity: 100, Unit: "gpu_hour", Start: end, End: end.Add(10 * time.Hour), Alerts: commitment.DefaultThresholds})
	at := figurestest.TermStart.Add(5*time.Hour + 30*time.Minute)
	withSeries, got, err := figures.CommitmentsAndSeries(ctx, st.Conn(), st.Database(), at)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ committed, used []float64 }{
		"cap":   {[]float64{4, 8, 12, 16, 20}, []float64{4, 8, 10, 10, 13}},
		"use":   {[]float64{10, 20, 30, 40, 50}, []float64{0, 2, 5, 6, 6}},
		"spend": {[]float64{100, 200, 300, 400, 500}, []float64{0, 0, 0, 20, 20}},
	}
	if len(got) != len(want) {
		t.Errorf("series for %d commitments, want %d (none for one not started)", len(got), len(want))
	}
	for id, w := range want {
		s := got[id]
		if s.Commitment != id || len(s.Points) != len(w.used) {
			t.Errorf("%s: series %+v, want %d points", id, s, len(w.used))
			continue
		}
		for i, p := range s.Points {
			if !p.Hour.Equal(figurestest.TermStart.Add(time.Duration(i)*time.Hour)) || p.Hour.Location() != time.UTC ||
				math.Abs(p.CommittedCum-w.committed[i]) > 1e-9 || math.Abs(p.UsedCum-w.used[i]) > 1e-9 {
				t.Errorf("%s point %d = %+v, want hour %d, committed %g, used %g", id, i, p, i, w.committed[i], w.used[i])
			}
		}
	}

	statuses, err := figures.Commitments(ctx, st.Conn(), st.Database(), at)
	if err != nil {
		t.Fatal(err)
	}
	// The evaluator's statement (no series) and the report's give the same figures.
	if !reflect.DeepEqual(statuses, withSeries) {
		t.Errorf("Commitments = %+v\nCommitmentsAndSeries = %+v", statuses, withSeries)
	}
	for _, s := range statuses {
		pts := got[s.ID].Points
		if len(pts) != int(s.HoursElapsed) {
			t.Errorf("%s: %d points, %g hours elapsed", s.ID, len(pts), s.HoursElapsed)
			continue
		}
		if n := len(pts); n > 0 && (math.Abs(pts[n-1].CommittedCum-s.CommittedToDate) > 1e-9 || math.Abs(pts[n-1].UsedCum-s.UsedToDate) > 1e-9) {
			t.Errorf("%s: series ends at %+v, figures to date committed %g used %g", s.ID, pts[n-1], s.CommittedToDate, s.UsedToDate)
		}
	}
	from, to := figures.DailyPeriod(at, 31)
	daily, err := figures.Daily(ctx, st.Conn(), st.Database(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	teams, err := figures.Teams(ctx, st.Conn(), st.Database(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(teams) == 0 {
		t.Error("no team rows for the worked example's usage")
	}
	r := Report{At: at, Database: st.Database(), Commitments: statuses, Series: got, Daily: daily, Teams: teams}
	for _, write := range []func(io.Writer, Report) error{WriteTable, WriteCSV, WriteJSON, WriteDailyCSV, WriteTeamsCSV} {
		render(t, write, r)
	}
	page := render(t, WriteHTML, r)
	checkStandalone(t, page, r)
	if !bytes.Contains(page, []byte("starts "+figurestest.TermStart.Add(10*time.Hour).Format("2006-01-02 15:04")+" UTC")) {
		t.Error("the commitment not yet started is not said to start later")
	}
}
