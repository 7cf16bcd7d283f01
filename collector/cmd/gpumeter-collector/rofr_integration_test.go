//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
)

// migrate --commitments loads the primary and the requests beside the commitments, refuses a bad request with its
// file:line, and report --format rofr-csv writes the classification, priced by the stored price cards: OCI's 2 GPUs
// of hour 0 covered by the refusal, those of hour 1 (after the release) uncovered.
func TestMigrateLoadsRequestsAndReportWritesROFR(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	dir := t.TempDir()
	start := figurestest.TermStart
	file := func(name, releases string) string {
		path := filepath.Join(dir, name)
		data := `currency: USD
prices: [{provider: oracle_cloud, gpu_model: H100, price_per_gpu_hour: 10}]
commitments:
  - id: az
    provider: azure
    kind: capacity
    quantity: 1
    term: {start: 2026-11-01T00:00:00Z, end: 2026-11-02T00:00:00Z}
primary: {provider: azure, commitments: [az]}
requests:
  - id: req
    asked: 2026-10-30T00:00:00Z
    gpus: 2
    gpu_model: H100
    period: {start: 2026-11-01T00:00:00Z, end: 2026-11-01T01:00:00Z}
    answer: {status: declined, at: 2026-10-31T00:00:00Z}
    releases: ` + releases + "\n"
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	db := []string{"--clickhouse-addr=" + testenv.ClickHouseAddr(t), "--clickhouse-database=" + st.Database()}
	bad := file("bad.yaml", "[{provider: oracle_cloud, gpus: 3}]")
	err := runMigrate(ctx, append(db, "--commitments="+bad))
	if err == nil || !strings.Contains(err.Error(), bad+":17: requests[0] (id req): releases[0].gpus: releases 3 GPUs in all, more than the 2") {
		t.Fatalf("migrate with a bad request: %v, want its file:line", err)
	}
	if err := runMigrate(ctx, append(db, "--commitments="+file("good.yaml", "[{provider: oracle_cloud, gpus: 2}]"))); err != nil {
		t.Fatal(err)
	}
	if prim, ok, err := commitment.CurrentPrimary(ctx, st.Conn(), st.Database()); err != nil || !ok || prim.Provider != "azure" {
		t.Fatalf("primary as loaded: %+v %v %v", prim, ok, err)
	}
	var rows []store.Row
	for h := range 2 {
		rows = append(rows, figurestest.GPUHours("azure", "eastus", "nd", h, 1, "az")...)
		rows = append(rows, figurestest.GPUHours("oracle_cloud", "iad", "bm", h, 2, "oci")...)
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rofr.csv")
	if err := runReport(ctx, append(db, "--at="+start.Add(2*time.Hour).Format(time.RFC3339), "--format=rofr-csv", "--out="+out)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "hour,primary,provider,gpu_model,class,request_id,gpu_hours,cost,currency\n" +
		"2026-11-01T00:00:00Z,azure,oracle_cloud,H100,covered,req,2.000,20.00,USD\n" +
		"2026-11-01T01:00:00Z,azure,oracle_cloud,H100,uncovered,,2.000,20.00,USD\n"
	if string(b) != want {
		t.Errorf("rofr-csv:\n%s\nwant\n%s", b, want)
	}
}
