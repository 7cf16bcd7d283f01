package main

import (
	"strings"
	"testing"
	"time"
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
