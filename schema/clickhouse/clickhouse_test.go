package clickhouse

import (
	"strings"
	"testing"
)

func TestFeaturesFor(t *testing.T) {
	tests := []struct {
		version string
		want    Features
		wantErr bool
	}{
		{version: "18.16.1", want: Features{Version: "18.16.1"}},
		{version: "19.6.2.11", want: Features{Version: "19.6.2.11", TTL: true}},
		{version: "19.9.1", want: Features{Version: "19.9.1", TTL: true, LowCardinality: true}},
		{version: "20.4.9", want: Features{Version: "20.4.9", TTL: true, LowCardinality: true, AddColumnIfNotExists: true}},
		{version: "20.5.2", want: Features{Version: "20.5.2", TTL: true, LowCardinality: true, SQLAccess: true, AddColumnIfNotExists: true}},
		{version: "24.8.4.13", want: Features{Version: "24.8.4.13", TTL: true, LowCardinality: true, SQLAccess: true, AddColumnIfNotExists: true}},
		{version: "banana", wantErr: true},
		{version: "24", wantErr: true},
	}
	for _, tt := range tests {
		got, err := FeaturesFor(tt.version)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("FeaturesFor(%q) = %+v, %v; want %+v, error %v", tt.version, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMigrationsRenderPerVersion(t *testing.T) {
	old, _ := FeaturesFor("18.16.1")
	modern, _ := FeaturesFor("24.8.1")
	for _, tc := range []struct {
		f         Features
		retention int
		want      []string
		wantNot   []string
	}{
		{f: old, retention: 30, want: []string{"provider String"}, wantNot: []string{"LowCardinality", "TTL"}},
		{f: modern, want: []string{"provider LowCardinality(String)"}, wantNot: []string{"TTL"}},
		{f: modern, retention: 400, want: []string{"TTL interval_start + INTERVAL 400 DAY"}},
	} {
		ms, err := Migrations(Params{DB: "db", RawRetentionDays: tc.retention}, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		last := 0
		for _, m := range ms {
			if m.Version <= last {
				t.Errorf("migration %d_%s out of order", m.Version, m.Name)
			}
			last = m.Version
			for _, s := range m.Statements {
				if strings.HasSuffix(strings.TrimSpace(s), ";") {
					t.Errorf("statement keeps its semicolon: %q", s)
				}
				all.WriteString(s + "\n")
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(all.String(), w) {
				t.Errorf("%s retention %d: rendered SQL lacks %q", tc.f.Version, tc.retention, w)
			}
		}
		for _, w := range tc.wantNot {
			if strings.Contains(all.String(), w) {
				t.Errorf("%s retention %d: rendered SQL has %q", tc.f.Version, tc.retention, w)
			}
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- a comment; with a semicolon\nDROP TABLE x;\n\nCREATE VIEW v AS\nSELECT 1;\nSELECT 2")
	want := []string{"DROP TABLE x", "CREATE VIEW v AS\nSELECT 1", "SELECT 2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
