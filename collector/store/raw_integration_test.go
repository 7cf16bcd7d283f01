//go:build integration

package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/fleet"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// The column table and the migrated usage_raw agree: every column a row fills exists, and every column of the table
// is filled (or computed by the server).
func TestRawColumnsMatchTable(t *testing.T) {
	st := open(t)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Conn().Query(t.Context(), fmt.Sprintf(
		"SELECT name, default_kind FROM system.columns WHERE database = '%s' AND table = 'usage_raw'", st.Database()))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var table []string
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			t.Fatal(err)
		}
		if kind == "" || kind == "DEFAULT" {
			table = append(table, name)
		}
	}
	var filled []string
	for _, c := range rawColumns {
		filled = append(filled, c.name)
	}
	slices.Sort(table)
	slices.Sort(filled)
	if !slices.Equal(table, filled) {
		t.Errorf("usage_raw has columns %v, the insert fills %v", table, filled)
	}
}

// Every field of a row lands in its column, read back through the table.
func TestWriteRawStoresEveryField(t *testing.T) {
	st := open(t)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(fleet.Shape{GPUs: 16, Start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Duration: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var in []Row
	for r := range f.All() {
		in = append(in, Row{Record: *r, Topic: "gpumeter.usage.v1", Partition: len(in) % 3, Offset: int64(1000 + len(in))})
	}
	in[5].BusySeconds, in[5].EnergyJoules, in[5].PowerAvgWatts, in[5].MIGProfile = nil, nil, nil, "1g.10gb"
	if err := st.WriteRaw(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf(`SELECT interval_start, interval_end, window_start, window_end, provider, region, zone, instance_type,
account, node, gpu_uuid, gpu_index, gpu_model, mig_profile, namespace, pod, team, provisioned_seconds, allocated_seconds,
busy_seconds, memory_used_avg_bytes, memory_used_max_bytes, memory_total_bytes, energy_joules, power_avg_watts, samples,
schema_version, kafka_topic, kafka_partition, kafka_offset FROM %s.usage_raw ORDER BY kafka_offset`, st.Database())
	rows, err := st.Conn().Query(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var (
			r         Row
			idx       uint16
			version   uint8
			partition int32
		)
		if err := rows.Scan(&r.IntervalStart, &r.IntervalEnd, &r.WindowStart, &r.WindowEnd, &r.Provider, &r.Region, &r.Zone,
			&r.InstanceType, &r.Account, &r.Node, &r.GPUUUID, &idx, &r.GPUModel, &r.MIGProfile, &r.Namespace, &r.Pod,
			&r.Team, &r.ProvisionedSeconds, &r.AllocatedSeconds, &r.BusySeconds, &r.MemoryUsedAvgBytes,
			&r.MemoryUsedMaxBytes, &r.MemoryTotalBytes, &r.EnergyJoules, &r.PowerAvgWatts, &r.Samples, &version,
			&r.Topic, &partition, &r.Offset); err != nil {
			t.Fatal(err)
		}
		r.GPUIndex, r.Version, r.Partition = int(idx), int(version), int(partition)
		for _, ts := range []*time.Time{&r.IntervalStart, &r.IntervalEnd, &r.WindowStart, &r.WindowEnd} {
			*ts = ts.UTC()
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read back %d rows, inserted %d", len(out), len(in))
	}
	for i := range in {
		if got, want := fmt.Sprintf("%+v", show(out[i])), fmt.Sprintf("%+v", show(in[i])); got != want {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// show prints the optional measures by value, so rows compare as text.
func show(r Row) any {
	deref := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	busy, energy, power := deref(r.BusySeconds), deref(r.EnergyJoules), deref(r.PowerAvgWatts)
	r.BusySeconds, r.EnergyJoules, r.PowerAvgWatts = nil, nil, nil
	return struct {
		Row
		Busy, Energy, Power any
	}{r, busy, energy, power}
}

// BenchmarkWriteRaw inserts batches of agent-shaped rows. Wall time depends on the server and the machine's load;
// allocations per op and the CPU profile of the client are what to compare (go test -bench WriteRaw -benchmem
// -cpuprofile).
func BenchmarkWriteRaw(b *testing.B) {
	st, err := Open(b.Context(), Config{Addr: []string{testenv.ClickHouseAddr(b)}, Database: testenv.Database(b), User: "default"},
		testenv.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	f, err := fleet.New(fleet.Shape{GPUs: batch, Start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Duration: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]Row, 0, batch)
	for r := range f.All() {
		rows = append(rows, Row{Record: *r, Topic: "gpumeter.usage.v1", Offset: int64(len(rows))})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := st.WriteRaw(b.Context(), rows); err != nil {
			b.Fatal(err)
		}
	}
}
