package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpumeter/gpumeter/collector/store"
)

func TestMigrateFlags(t *testing.T) {
	ingest := store.Config{User: "gpumeter_writer", Password: "w"}
	for _, tt := range []struct {
		name     string
		args     []string
		wantUser string // "" with wantNil: no migration at start
		wantNil  bool
		wantErr  string
	}{
		{name: "default: migrate as the ingest user", wantUser: "gpumeter_writer"},
		{name: "a migration user", args: []string{"--clickhouse-migrate-user=gpumeter_migrate", "--clickhouse-migrate-password=m"},
			wantUser: "gpumeter_migrate"},
		{name: "no migration", args: []string{"--migrate=false"}, wantNil: true},
		{name: "migration user without migrating", args: []string{"--migrate=false", "--clickhouse-migrate-user=m"},
			wantErr: "--clickhouse-migrate-user"},
		{name: "password without user", args: []string{"--clickhouse-migrate-password=m"}, wantErr: "--clickhouse-migrate-password"},
		{name: "password file missing", args: []string{"--clickhouse-migrate-user=m",
			"--clickhouse-migrate-password-file=" + filepath.Join(t.TempDir(), "nope")}, wantErr: "--clickhouse-migrate-password-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m migrateFlags
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			m.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := m.config(ingest)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one starting with %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg == nil) != tt.wantNil || (cfg != nil && cfg.User != tt.wantUser) {
				t.Fatalf("config %+v, want user %q (nil %v)", cfg, tt.wantUser, tt.wantNil)
			}
			if cfg != nil && cfg.User == "gpumeter_migrate" && (cfg.Password != "m" || ingest.Password != "w") {
				t.Errorf("passwords mixed up: migration %q, ingest %q", cfg.Password, ingest.Password)
			}
		})
	}
}

// TestReportRefusesCommitments: report only reads, so it refuses to load commitments, before connecting anywhere.
func TestReportRefusesCommitments(t *testing.T) {
	err := runReport(t.Context(), []string{"--clickhouse-addr=127.0.0.1:1", "--commitments=whatever.yaml"})
	if err == nil || !strings.HasPrefix(err.Error(), "--commitments") || !strings.Contains(err.Error(), "migrate --commitments") {
		t.Fatalf("err %v, want --commitments refused with a pointer to migrate --commitments", err)
	}
}
