package schema

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sampleRecord() Record {
	start := time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)
	return Record{
		Version: Version, Node: "aks-ndh100-0001", Provider: "azure", Region: "eastus", Zone: "eastus-1",
		InstanceType: "Standard_ND96isr_H100_v5", Account: "3f1e0c5a-sub",
		GPUUUID: "GPU-8b1c1bbf-9a3e-5a7e-8d22-7f0f0e6f0a01", GPUIndex: 3, GPUModel: "NVIDIA H100 80GB HBM3",
		Namespace: "llm-train", Pod: "trainer-7f9c-0", Team: "research",
		IntervalStart: start, IntervalEnd: start.Add(time.Minute),
		WindowStart: start, WindowEnd: start.Add(time.Minute),
		ProvisionedSeconds: 60, AllocatedSeconds: 60, BusySeconds: Float(42),
		MemoryUsedAvgBytes: 61203283968, MemoryUsedMaxBytes: 62277025792, MemoryTotalBytes: 85899345920,
		EnergyJoules: Float(31500), PowerAvgWatts: Float(525), Samples: 60,
	}
}

func TestGolden(t *testing.T) {
	full := sampleRecord()
	partial := sampleRecord()
	partial.Namespace, partial.Pod, partial.Team = "", "", ""
	partial.WindowStart = partial.IntervalStart.Add(17500 * time.Millisecond)
	partial.ProvisionedSeconds, partial.AllocatedSeconds, partial.Samples = 42.5, 0, 43
	partial.BusySeconds, partial.EnergyJoules, partial.PowerAvgWatts = nil, nil, nil
	for name, rec := range map[string]Record{"full_v1": full, "partial_unknown_busy_v1": partial} {
		t.Run(name, func(t *testing.T) {
			got, err := Encode(&rec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./schema -update to create it)", err)
			}
			if strings.TrimSpace(string(want)) != string(got) {
				t.Errorf("encoding changed:\n got %s\nwant %s", got, want)
			}
			back, err := Decode(want)
			if err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			again, _ := Encode(&back)
			if string(again) != string(got) {
				t.Errorf("round trip differs:\n got %s\nwant %s", again, got)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := Encode(new(sampleRecord()))
	mutate := func(f func(*Record)) []byte {
		r := sampleRecord()
		f(&r)
		b, _ := Encode(&r)
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		target  error
		field   string
		contain string
	}{
		{name: "garbage", in: []byte("\x00\x01 not json"), target: ErrMalformed},
		{name: "empty", in: nil, target: ErrMalformed},
		{name: "json array", in: []byte(`[1,2]`), target: ErrMalformed},
		{name: "missing version", in: []byte(`{"node":"n"}`), target: ErrMalformed, contain: `"v"`},
		{name: "future version", in: []byte(`{"v":2,"node":"n","gpu_uuid":"g"}`), target: ErrUnknownVersion, contain: "2"},
		{name: "future version with changed types", in: []byte(`{"v":7,"window_start":12345}`), target: ErrUnknownVersion},
		{name: "trailing data", in: append(append([]byte{}, good...), []byte(` {"v":1}`)...), target: ErrMalformed},
		{name: "wrong type", in: []byte(`{"v":1,"node":5}`), target: ErrMalformed},
		{name: "no node", in: mutate(func(r *Record) { r.Node = "" }), field: "node"},
		{name: "no uuid", in: mutate(func(r *Record) { r.GPUUUID = "" }), field: "gpu_uuid"},
		{name: "no provider", in: mutate(func(r *Record) { r.Provider = "" }), field: "provider"},
		{name: "window outside interval", in: mutate(func(r *Record) { r.WindowEnd = r.WindowEnd.Add(time.Second) }), field: "window_start"},
		{name: "inverted interval", in: mutate(func(r *Record) { r.IntervalEnd = r.IntervalStart }), field: "interval_end"},
		{name: "empty window", in: mutate(func(r *Record) { r.WindowEnd = r.WindowStart }), field: "window_end"},
		{name: "provisioned over window", in: mutate(func(r *Record) { r.ProvisionedSeconds = 61 }), field: "provisioned_seconds"},
		{name: "provisioned zero", in: mutate(func(r *Record) { r.ProvisionedSeconds, r.AllocatedSeconds, r.BusySeconds = 0, 0, nil }), field: "provisioned_seconds"},
		{name: "busy over provisioned", in: mutate(func(r *Record) { r.BusySeconds = Float(60.5) }), field: "busy_seconds"},
		{name: "negative allocated", in: mutate(func(r *Record) { r.AllocatedSeconds = -1 }), field: "allocated_seconds"},
		{name: "negative energy", in: mutate(func(r *Record) { r.EnergyJoules = Float(-3) }), field: "energy_joules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if err == nil {
				t.Fatal("decoded a bad record without error")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("error %q does not wrap %v", err, tt.target)
			}
			if tt.field != "" {
				var inv *InvalidError
				if !errors.As(err, &inv) || inv.Field != tt.field {
					t.Errorf("error %q does not name field %s", err, tt.field)
				}
			}
			if tt.contain != "" && !strings.Contains(err.Error(), tt.contain) {
				t.Errorf("error %q does not mention %q", err, tt.contain)
			}
		})
	}
}

func TestDecodeAcceptsUnknownFields(t *testing.T) {
	// v1 only grows: a newer agent may add fields an older collector ignores.
	b, _ := Encode(new(sampleRecord()))
	b = append([]byte(`{"future_field":{"x":1},`), b[1:]...)
	if _, err := Decode(b); err != nil {
		t.Fatalf("unknown field rejected: %v", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	msg, _ := Encode(new(sampleRecord()))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	r := sampleRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(&r); err != nil {
			b.Fatal(err)
		}
	}
}
