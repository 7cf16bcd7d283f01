package export

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
)

// The scenario lies well in the past: commitment_hourly only covers complete hours before now().
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestOptionsAreChecked(t *testing.T) {
	for _, opt := range []Options{
		{From: at(0).Add(30 * time.Minute), To: at(2), Format: FormatCSV},
		{From: at(0), To: at(2).Add(time.Second), Format: FormatCSV},
		{From: at(0), To: at(2).Add(time.Nanosecond), Format: FormatJSONL},
		{From: at(2), To: at(2), Format: FormatCSV},
		{From: at(3), To: at(2), Format: FormatCSV},
		{To: at(2), Format: FormatCSV},
		{From: at(0), To: at(2), Format: "xml"},
		{From: at(0), To: at(2)},
		{From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), To: at(2), Format: FormatCSV},
	} {
		var buf bytes.Buffer
		// No connection: options are refused before ClickHouse is asked anything.
		n, err := FOCUS(t.Context(), nil, "db", opt, &buf)
		if !errors.Is(err, ErrBadOptions) || n != 0 || buf.Len() != 0 {
			t.Errorf("%v..%v %q: rows %d, output %q, error %v; want ErrBadOptions and nothing written", opt.From, opt.To, opt.Format, n, buf.String(), err)
		}
	}
	// A non-UTC zone on a whole UTC hour is fine; one on a whole local hour that is not a UTC hour is not.
	india := time.FixedZone("IST", 5*3600+1800)
	if err := (Options{From: at(0).In(india), To: at(1).In(india), Format: FormatCSV}).Validate(); err != nil {
		t.Errorf("whole UTC hours in another zone refused: %v", err)
	}
	if err := (Options{From: time.Date(2024, 3, 1, 6, 0, 0, 0, india), To: at(12), Format: FormatCSV}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "whole UTC hour") {
		t.Errorf("06:00 IST (00:30 UTC) accepted or error unclear: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2024-03-01T05:00:00Z":      at(5),
		"2024-03-01T07:00:00+02:00": at(5),
		"2024-03-01T05":             at(5),
		"2024-03-01":                at(0),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v UTC", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
}

// Overlapping commitments of one provider: every GPU-hour goes to one of them, reservation first, and a row's parts
// add up to the row.
func TestAllocateOverlaps(t *testing.T) {
	cs := []commitment.Commitment{ // ordered by id, as commitment.Current returns them
		{ID: "a-spend", Provider: "aws", Kind: commitment.KindSpend, Start: at(0), End: at(10),
			RateCard: []commitment.Rate{{GPUModel: "H100", PricePerGPUHour: 3}}},
		{ID: "b-cap", Provider: "aws", Kind: commitment.KindCapacity, Quantity: 3, Start: at(0), End: at(10),
			Scope: commitment.Scope{InstanceType: "p5"}},
		{ID: "c-use", Provider: "aws", Kind: commitment.KindUsage, Quantity: 100, Start: at(0), End: at(10),
			Scope: commitment.Scope{Region: "us-east-1"}},
		{ID: "d-later", Provider: "aws", Kind: commitment.KindCapacity, Quantity: 8, Start: at(5), End: at(10)},
	}
	hour := []usage{
		{Hour: at(1), Provider: "aws", Region: "us-east-1", InstanceType: "p5", GPUModel: "H100", Team: "a", GPUHours: 2},
		{Hour: at(1), Provider: "aws", Region: "us-east-1", InstanceType: "p5", GPUModel: "H100", Team: "b", GPUHours: 2.5},
		{Hour: at(1), Provider: "aws", Region: "us-west-2", InstanceType: "p5", GPUModel: "H100", Team: "c", GPUHours: 1},
		{Hour: at(1), Provider: "aws", Region: "us-west-2", InstanceType: "g5", GPUModel: "A10G", GPUHours: 1},
		{Hour: at(1), Provider: "gcp", Region: "us-east-1", InstanceType: "p5", GPUModel: "H100", GPUHours: 4},
	}
	type got struct {
		team, id string
		hours    float64
		price    float64
	}
	var parts []got
	sums := map[string]float64{}
	for _, p := range allocate(hour, cs) {
		id := ""
		if p.c != nil {
			id = p.c.ID
		}
		parts = append(parts, got{p.Team + "/" + p.Region + "/" + p.InstanceType, id, p.gpuHours, p.price})
		sums[p.Team+p.Region+p.InstanceType+p.Provider] += p.gpuHours
	}
	want := []got{
		{"a/us-east-1/p5", "b-cap", 2, 0},
		{"b/us-east-1/p5", "b-cap", 1, 0},   // the reservation's last GPU-hour
		{"b/us-east-1/p5", "c-use", 1.5, 0}, // the rest: the usage commitment
		{"c/us-west-2/p5", "a-spend", 1, 3}, // reservation full, outside the usage scope: the rate card prices it
		{"/us-west-2/g5", "", 1, 0},         // no rate card line for A10G
		{"/us-east-1/p5", "", 4, 0},         // another provider
	}
	if !slices.Equal(parts, want) {
		t.Errorf("allocate:\n got  %v\n want %v", parts, want)
	}
	for _, u := range hour {
		if s := sums[u.Team+u.Region+u.InstanceType+u.Provider]; !near(s, u.GPUHours) {
			t.Errorf("%+v: parts add up to %g", u, s)
		}
	}
}
