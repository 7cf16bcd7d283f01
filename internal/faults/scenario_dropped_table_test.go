//go:build faults

package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func init() {
	scenarios = append(scenarios, scenario{
		name: "dropped-table", what: "usage_raw disappears mid-run (moved aside, as a backup an operator keeps); the " +
			"collector's inserts fail and it holds its offsets; `gpumeter-collector migrate` finds usage_raw missing " +
			"although schema_migrations lists it, and recreates it; the collector's held batches land; the operator " +
			"restores the backup: nothing the collector was given is lost",
		duration: 3 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.3)
			c := r.live[0]
			r.waitInserted(c)
			r.requireAgentsRunning("before dropping usage_raw")
			ch := func(q string) {
				r.t.Helper()
				if err := chQuery(r.t.Context(), func(ctx context.Context, conn clickhouse.Conn) error { return conn.Exec(ctx, q) }); err != nil {
					r.t.Fatalf("%s: %v", q, err)
				}
			}
			before := c.count("usage_raw")
			ch(fmt.Sprintf("RENAME TABLE %s.usage_raw TO %s.usage_raw_backup", r.db, r.db))
			r.res.note("usage_raw moved aside at %s", r.progress())
			// The collector says what is missing, and keeps what it could not store uncommitted.
			if err := c.waitFor(time.Minute, "a log line naming usage_raw", func() bool { return c.count("usage_raw") > before }); err != nil {
				r.t.Fatalf("%v\n%s", err, c.tail(20))
			}
			r.res.note("the collector logged %d lines naming usage_raw while it was missing", c.count("usage_raw")-before)
			time.Sleep(2 * time.Second) // a few more batches held back

			exists := func() bool {
				var n uint8
				if err := chQuery(r.t.Context(), func(ctx context.Context, conn clickhouse.Conn) error {
					return conn.QueryRow(ctx, fmt.Sprintf("EXISTS TABLE %s.usage_raw", r.db)).Scan(&n)
				}); err != nil {
					r.t.Fatalf("does usage_raw exist: %v", err)
				}
				return n == 1
			}
			if exists() {
				// A collector that migrates when an insert finds a table missing has healed it by itself.
				r.res.note("the collector recreated usage_raw by itself by %s", r.progress())
			} else {
				m := startProc(r.t, "migrate", filepath.Join(r.dir, "migrate.log"), collectorBin, "migrate",
					"--clickhouse-addr="+clickhouseAddr, "--clickhouse-database="+r.db)
				if !m.wait(time.Minute) || m.exitCode() != 0 {
					r.t.Fatalf("migrate did not succeed (%s):\n%s", m.exitDesc(), m.tail(20))
				}
				if missing, ok := m.field("schema incomplete", "missing"); !ok || missing != "[usage_raw]" {
					r.t.Errorf("migrate logged missing=%q (found %v), want [usage_raw]:\n%s", missing, ok, m.tail(20))
				}
				if !exists() {
					r.t.Fatalf("usage_raw still missing after migrate:\n%s", m.tail(20))
				}
				r.res.note("migrate at %s: it reported missing=[usage_raw] and recreated it", r.progress())
			}

			ch(fmt.Sprintf("INSERT INTO %s.usage_raw SELECT * FROM %s.usage_raw_backup", r.db, r.db))
			ch(fmt.Sprintf("DROP TABLE %s.usage_raw_backup", r.db))
			r.res.note("backup restored at %s", r.progress())
		},
	})
}
