//go:build integration

package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/schema"
)

func open(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.Context(), Config{Addr: []string{testenv.ClickHouseAddr(t)}, Database: testenv.Database(t), User: "default"},
		testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestMigrateIsIdempotent(t *testing.T) {
	st := open(t)
	for range 3 {
		if err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	q := fmt.Sprintf("SELECT count() FROM %s.schema_migrations FINAL", st.Database())
	if err := st.Conn().QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migrations recorded")
	}
	for _, table := range []string{"usage_raw", "gpu_usage"} {
		var exists uint8
		if err := st.Conn().QueryRow(t.Context(), fmt.Sprintf("EXISTS TABLE %s.%s", st.Database(), table)).Scan(&exists); err != nil || exists != 1 {
			t.Errorf("%s missing after migrate (err %v)", table, err)
		}
	}
}

func TestInsertRoundTrip(t *testing.T) {
	st := open(t)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	rec := schema.Record{Version: 1, Node: "n", Provider: "gcp", Region: "us-central1", InstanceType: "a3-highgpu-8g",
		GPUUUID: "GPU-x", GPUModel: "H100", MIGProfile: "1g.10gb", IntervalStart: start, IntervalEnd: start.Add(time.Minute),
		WindowStart: start.Add(1500 * time.Millisecond), WindowEnd: start.Add(time.Minute), ProvisionedSeconds: 58.5,
		BusySeconds: nil, EnergyJoules: schema.Float(1234.5), MemoryUsedMaxBytes: 1 << 30, MemoryUsedAvgBytes: 1 << 29, Samples: 59}
	if err := st.Insert(t.Context(), []Row{{Record: rec, Topic: "t", Partition: 2, Offset: 77}}); err != nil {
		t.Fatal(err)
	}
	var (
		ws          time.Time
		prov        float64
		busy, joule *float64
		mig         string
		offset      int64
	)
	q := fmt.Sprintf("SELECT window_start, provisioned_seconds, busy_seconds, energy_joules, mig_profile, kafka_offset FROM %s.usage_raw", st.Database())
	if err := st.Conn().QueryRow(t.Context(), q).Scan(&ws, &prov, &busy, &joule, &mig, &offset); err != nil {
		t.Fatal(err)
	}
	// DateTime keeps whole seconds (18.16 has no DateTime64).
	if !ws.Equal(start.Add(time.Second)) || prov != 58.5 || busy != nil || joule == nil || *joule != 1234.5 || mig != "1g.10gb" || offset != 77 {
		t.Errorf("read back window_start=%s provisioned=%g busy=%v energy=%v mig=%q offset=%d", ws, prov, busy, joule, mig, offset)
	}
}

func TestRollupsCountLateDataOnceAndIgnoreDuplicates(t *testing.T) {
	st := open(t)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	mk := func(gpu string, minute int) Row {
		is := hour.Add(time.Duration(minute) * time.Minute)
		return Row{Record: schema.Record{Version: 1, Node: "n", Provider: "azure", Region: "eastus", InstanceType: "nd",
			GPUUUID: gpu, GPUModel: "H100", Team: "research", IntervalStart: is, IntervalEnd: is.Add(time.Minute),
			WindowStart: is, WindowEnd: is.Add(time.Minute), ProvisionedSeconds: 60, AllocatedSeconds: 60,
			BusySeconds: schema.Float(30), EnergyJoules: schema.Float(36000)}}
	}
	var first, late []Row
	for m := range 60 {
		first = append(first, mk("GPU-a", m))
		late = append(late, mk("GPU-b", m))
	}
	steps := []struct {
		name  string
		rows  []Row
		hours float64
	}{
		{"first GPU", first, 1},
		{"same rows again (redelivery)", first, 1},
		{"a second GPU's records arrive late", late, 2},
		{"everything again", append(append([]Row{}, first...), late...), 2},
	}
	for _, step := range steps {
		if err := st.Insert(t.Context(), step.rows); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"gpu_usage_hourly", "gpu_usage_daily"} {
			var prov, busy, energy float64
			q := fmt.Sprintf("SELECT sum(provisioned_gpu_hours), sum(busy_gpu_hours), sum(energy_kwh) FROM %s.%s", st.Database(), table)
			if err := st.Conn().QueryRow(t.Context(), q).Scan(&prov, &busy, &energy); err != nil {
				t.Fatal(err)
			}
			if prov != step.hours || busy != step.hours/2 || energy != step.hours*0.6 {
				t.Errorf("%s: %s = %g GPU-h, %g busy, %g kWh; want %g, %g, %g", step.name, table, prov, busy, energy,
					step.hours, step.hours/2, step.hours*0.6)
			}
		}
	}
}
