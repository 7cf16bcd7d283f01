package consume

import (
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	c := Config{Topic: "t", DLQTopic: "t", BatchSize: -1}
	err := c.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"--group", "--dlq-topic", "--batch-size", "--batch-wait", "--shutdown-timeout"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}
