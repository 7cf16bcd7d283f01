package store

import (
	"slices"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/schema"
)

func TestTouchedNodeHours(t *testing.T) {
	h := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	row := func(node string, at time.Time) Row {
		return Row{Record: schema.Record{Node: node, IntervalStart: at}}
	}
	tests := []struct {
		name string
		rows []Row
		want []NodeHour
	}{
		{"none", nil, []NodeHour{}},
		{"one node, minutes of one hour", []Row{row("a", h), row("a", h.Add(59*time.Minute))}, []NodeHour{{"a", h}}},
		{"sorted by hour, then node; distinct", []Row{row("b", h.Add(time.Hour)), row("b", h), row("a", h.Add(time.Minute)), row("b", h)},
			[]NodeHour{{"a", h}, {"b", h}, {"b", h.Add(time.Hour)}}},
		{"other time zones are the same hour", []Row{row("a", h.In(time.FixedZone("x", 5*3600))), row("a", h)}, []NodeHour{{"a", h}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Touched(tt.rows)
			if !slices.EqualFunc(got, tt.want, func(a, b NodeHour) bool { return a.Node == b.Node && a.Hour.Equal(b.Hour) }) {
				t.Errorf("Touched = %v, want %v", got, tt.want)
			}
			var p Pending
			p.Add(tt.rows)
			if p.Len() != len(tt.want) {
				t.Errorf("Pending holds %d node-hours, want %d", p.Len(), len(tt.want))
			}
		})
	}
}
