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
