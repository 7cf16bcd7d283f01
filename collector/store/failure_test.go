package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestClassify(t *testing.T) {
	parse := &clickhouse.Exception{Code: 6, Message: "Cannot parse text"}
	tests := []struct {
		name string
		err  error
		want Failure
	}{
		{"network", errors.New("dial tcp: connection refused"), Transient},
		{"row refused by the insert", fmt.Errorf("insert 5 rows: %w", parse), Rejected},
		{"the same code from the rollup recomputation", rollupError{fmt.Errorf("recompute: %w", parse)}, Refused},
		{"too many parts", &clickhouse.Exception{Code: 252}, Rejected},
		{"table dropped", fmt.Errorf("prepare: %w", &clickhouse.Exception{Code: 60}), Missing},
		{"rollup table dropped", rollupError{&clickhouse.Exception{Code: 60}}, Missing},
		{"column missing", &clickhouse.Exception{Code: 16}, Missing},
		{"wrong password", &clickhouse.Exception{Code: 516}, Refused},
		{"memory limit", &clickhouse.Exception{Code: 241}, Transient},
	}
	for _, tc := range tests {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %s, want %s", tc.name, got, tc.want)
		}
	}
	if !IsTooManyParts(fmt.Errorf("x: %w", &clickhouse.Exception{Code: 252})) || IsTooManyParts(parse) {
		t.Error("IsTooManyParts")
	}
	if got := Reason(fmt.Errorf("x: %w", &clickhouse.Exception{Code: 60, Message: "Table db.t doesn't exist."})); got != "Table db.t doesn't exist." {
		t.Errorf("Reason = %q", got)
	}
}
