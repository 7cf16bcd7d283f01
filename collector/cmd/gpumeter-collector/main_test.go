package main

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/collector/evaluate"
	"github.com/gpumeter/gpumeter/internal/flagenv"
)

func TestRunFlagsDefaultsAreValid(t *testing.T) {
	o, err := parseRunFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.validate()
	if err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if cfg.consume.Topic != "gpumeter.usage.v1" || cfg.consume.BatchWait != 2*time.Second || cfg.evaluate.Interval != 5*time.Minute ||
		cfg.store.Database != "gpumeter" || cfg.store.DialTimeout != 5*time.Second || len(cfg.consume.Conn.Brokers) == 0 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestRunFlagsReportEveryProblem(t *testing.T) {
	o, err := parseRunFlags([]string{"--topic=x", "--dlq-topic=x", "--group=", "--batch-size=0", "--batch-wait=-1s",
		"--alert-interval=0s", "--alertmanager-url=am:9093", "--topic-partitions=0", "--clickhouse-database=a-b",
		"--raw-retention-days=-1", "--log-level=loud"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.validate()
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, flag := range []string{"--dlq-topic", "--group", "--batch-size", "--batch-wait", "--alert-interval",
		"--alertmanager-url", "--topic-partitions", "--clickhouse-database", "--raw-retention-days", "log-level"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("the error does not name %s:\n%v", flag, err)
		}
	}
}

func TestCommandLine(t *testing.T) {
	var out strings.Builder
	old := stdout
	stdout = &out
	t.Cleanup(func() { stdout = old })
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in the output (standard output) or, for errors, in the error
	}{
		{"--help lists the commands", []string{"--help"}, 0, []string{"Commands:", "  run ", "  migrate ", "  report ", "  export ", "  version ", "  help "}},
		{"help", []string{"help"}, 0, []string{"Commands:", "  export "}},
		{"help report", []string{"help", "report"}, 0, []string{"gpumeter-collector report prints", "  --at string", "[GPUMETER_AT]"}},
		{"report --help", []string{"report", "--help"}, 0, []string{"  --format string", "  --clickhouse-addr value"}},
		{"version", []string{"version"}, 0, []string{"gpumeter-collector "}},
		{"--version", []string{"--version"}, 0, []string{"gpumeter-collector "}},
		{"a misspelt command", []string{"repot"}, 2, []string{`unknown command "repot": did you mean report?`}},
		{"an unknown command", []string{"frobnicate"}, 2, []string{"want run, migrate, report, export, version, help"}},
		{"help of an unknown command", []string{"help", "frobnicate"}, 2, []string{"unknown command"}},
		{"an unknown flag", []string{"migrate", "--nope"}, 2, []string{"--nope"}},
		{"a bad value", []string{"report", "--days=many"}, 2, []string{"--days"}},
		{"a stray argument", []string{"export", "stray"}, 2, []string{`unexpected argument "stray"`}},
		{"a failed validation", []string{"report", "--days=0"}, 1, []string{"--days: 0 is not between 1 and 3660"}},
		{"export --help", []string{"export", "--help"}, 0, []string{"  --focus-version string", "[GPUMETER_FOCUS_VERSION]", "  --dataset string", "  --billing-account string"}},
		{"an unknown FOCUS version", []string{"export", "--focus-version=1.1"}, 1, []string{`FOCUS version "1.1" is neither "1.2" nor "1.3"`}},
		{"a dataset 1.2 lacks", []string{"export", "--dataset=ContractCommitment"}, 1, []string{`FOCUS 1.2 has no dataset "ContractCommitment"`}},
		{"a bad billing account", []string{"export", "--billing-account=aws"}, 1, []string{`--billing-account: export: bad options: billing account "aws" is not provider=id`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out.Reset()
			err := run(t.Context(), tc.args)
			var errOut strings.Builder
			if code := flagenv.ExitCode("gpumeter-collector", err, &errOut); code != tc.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tc.code)
			}
			text := out.String()
			if tc.code != 0 {
				text = errOut.String()
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q lacks %q", text, w)
				}
			}
		})
	}
}

// The variables of the local services and the tests are not flags and are not typos of one either: no warnings.
func TestNoWarningsForTheProjectsOwnVariables(t *testing.T) {
	own := []string{"GPUMETER_TEST_KAFKA", "GPUMETER_TEST_CLICKHOUSE", "GPUMETER_TEST_CLICKHOUSE_HTTP", "GPUMETER_TEST_ALERTMANAGER",
		"GPUMETER_CH_PORT", "GPUMETER_CH_HTTP_PORT", "GPUMETER_KAFKA_PORT", "GPUMETER_KAFKA_CONTROLLER_PORT",
		"GPUMETER_ALERTMANAGER_PORT", "GPUMETER_LOCAL_DIR", "GPUMETER_KAFKA_HEAP", "GPUMETER_CHDB_VERSION"}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	o := &runOptions{consume: consume.DefaultConfig(), evaluate: evaluate.DefaultConfig()}
	o.log.Register(fs)
	o.clickhouse.register(fs)
	o.kafka.Register(fs)
	if w := flagenv.Misspelt(fs, own); len(w) > 0 {
		t.Errorf("warnings for the project's own variables:\n%s", strings.Join(w, "\n"))
	}
	if w := flagenv.Misspelt(fs, []string{"GPUMETER_KAFKA_BROKER", "GPUMETER_CLICKHOUSE_ADR"}); len(w) != 2 {
		t.Errorf("typos not warned about: %v", w)
	}
}
