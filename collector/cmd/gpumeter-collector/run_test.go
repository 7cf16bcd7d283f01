package main

import (
	"strings"
	"testing"
)

// run validates every flag before it connects anywhere and names each bad one.
func TestRunRefusesBadFlags(t *testing.T) {
	t.Setenv("GPUMETER_CLICKHOUSE_ADDR", "127.0.0.1:1") // nothing listens: a connection attempt would show
	t.Setenv("GPUMETER_KAFKA_BROKERS", "127.0.0.1:1")
	err := runConsume(t.Context(), []string{"--metrics-addr=", "--topic=t", "--dlq-topic=t", "--batch-bytes=0",
		"--stall-after=-1s", "--fetch-max-bytes=-5", "--alert-interval=0", "--topic-partitions=0"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--dlq-topic", "--batch-bytes", "--stall-after", "--fetch-max-bytes", "--alert-interval",
		"--topic-partitions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("it tried to connect: %v", err)
	}
}
