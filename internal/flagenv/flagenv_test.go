package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  string
		interval time.Duration
		brokers  string
	}{
		{name: "defaults", interval: time.Minute, brokers: "a:1"},
		{name: "env fills unset flag", env: map[string]string{"GPUMETER_INTERVAL": "30s", "GPUMETER_KAFKA_BROKERS": "x:1, y:2"},
			interval: 30 * time.Second, brokers: "x:1,y:2"},
		{name: "flag beats env", args: []string{"--interval=10s"}, env: map[string]string{"GPUMETER_INTERVAL": "30s"},
			interval: 10 * time.Second, brokers: "a:1"},
		{name: "bad env names variable and flag", env: map[string]string{"GPUMETER_INTERVAL": "soon"},
			wantErr: `invalid value "soon" for GPUMETER_INTERVAL (flag --interval)`},
		{name: "bad flag names flag", args: []string{"--interval=soon"}, wantErr: "-interval"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			interval := fs.Duration("interval", time.Minute, "")
			brokers := List{"a:1"}
			fs.Var(&brokers, "kafka-brokers", "")
			err := Parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *interval != tt.interval || brokers.String() != tt.brokers {
				t.Errorf("interval %s brokers %s, want %s %s", *interval, brokers.String(), tt.interval, tt.brokers)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	var out strings.Builder
	if ExitCode("x", nil, &out) != 0 || ExitCode("x", ErrHelp, &out) != 0 || out.Len() != 0 {
		t.Fatalf("success or --help printed %q or failed", out.String())
	}
	if code := ExitCode("prog", errors.New("--a: bad\n--b: worse"), &out); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := out.String(); got != "prog: --a: bad\nprog: --b: worse\n" {
		t.Errorf("printed %q, want one line per problem, each naming the program", got)
	}
}

func TestMisspeltVariables(t *testing.T) {
	fs := flag.NewFlagSet("gpumeter-agent", flag.ContinueOnError)
	fs.String("kafka-brokers", "", "")
	fs.Duration("interval", time.Minute, "")
	fs.String("clickhouse-cluster", "", "")
	fs.String("alertmanager-url", "", "")
	got := Misspelt(fs, []string{"GPUMETER_KAFKA_BROKER", "GPUMETER_INTERVALL", "GPUMETER_KAFKA_BROKERS", "GPUMETER_TEST_CLICKHOUSE",
		"KAFKA_BROKER", "GPUMETER_CH_PORT", "GPUMETER_TEST_CLICKHOUSE_CLUSTER", "GPUMETER_ALERTMANAGER_PORT"})
	want := []string{
		"GPUMETER_INTERVALL sets nothing: did you mean GPUMETER_INTERVAL (flag --interval)?",
		"GPUMETER_KAFKA_BROKER sets nothing: did you mean GPUMETER_KAFKA_BROKERS (flag --kafka-brokers)?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Parse warns about what the environment holds.
	var warnings strings.Builder
	oldEnv, oldW := Environ, Warnings
	t.Cleanup(func() { Environ, Warnings = oldEnv, oldW })
	Environ = func() []string { return []string{"GPUMETER_KAFKA_BROKER=x:1"} }
	Warnings = &warnings
	env := map[string]string{"GPUMETER_KAFKA_BROKER": "x:1"}
	if err := Parse(fs, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warnings.String(), "gpumeter-agent: warning: GPUMETER_KAFKA_BROKER sets nothing: did you mean GPUMETER_KAFKA_BROKERS") {
		t.Errorf("warning %q", warnings.String())
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("interval", time.Minute, "")
	none := func(string) (string, bool) { return "", false }
	for _, args := range [][]string{{"--nope"}, {"--interval=soon"}, {"stray"}} {
		err := Parse(fs, args, none, io.Discard)
		if code := ExitCode("x", err, io.Discard); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
		if err != nil && strings.Contains(err.Error(), " -interval") {
			t.Errorf("%v: %v writes -interval, not --interval", args, err)
		}
	}
	if code := ExitCode("x", errors.Join(errors.New("--a: bad"), Usagef("--b: bad")), io.Discard); code != 2 {
		t.Errorf("a usage error among others: exit %d, want 2", code)
	}
	if code := ExitCode("x", errors.New("kafka: refused"), io.Discard); code != 1 {
		t.Errorf("a run error: exit %d, want 1", code)
	}
}

func TestUsageWritesDoubleDashFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("interval", time.Minute, "reporting `period`")
	fs.Bool("simulate", false, "simulate")
	fs.Usage = Usage(fs, "x does things.")
	var out strings.Builder
	if err := Parse(fs, []string{"--help"}, func(string) (string, bool) { return "", false }, &out); !errors.Is(err, ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"x does things.", "  --interval period\n", "reporting period (default 1m0s) [GPUMETER_INTERVAL]", "  --simulate\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\n  -interval") {
		t.Errorf("usage writes -interval:\n%s", out.String())
	}
}

func TestExitCodeRedactsURLCredentials(t *testing.T) {
	var buf strings.Builder
	err := fmt.Errorf("--alertmanager-url: %q is not an http(s) URL", "ftp://admin:secret@host")
	if code := ExitCode("gpumeter-collector", err, &buf); code != 1 {
		t.Fatalf("exit code %d", code)
	}
	if strings.Contains(buf.String(), "secret") || strings.Contains(buf.String(), "admin") {
		t.Errorf("credentials printed: %s", buf.String())
	}
}
