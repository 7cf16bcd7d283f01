package consume

import (
	"errors"
	"sort"
	"sync"
)

// Conditions that make the consumer not ready. Each is also a value of the reason attribute of
// gpumeter_collector_consumer_blocked, which deploy/prometheus/rules.yml alerts on.
const (
	condKafka       = "kafka"         // fetching fails: Kafka away, or cannot authenticate
	condOffsets     = "kafka_offsets" // the offsets watch cannot reach Kafka
	condClickHouse  = "clickhouse"    // cannot write: away, a table missing, refused
	condDeadLetters = "dead_letters"  // cannot write dead letters
	condStalled     = "stalled"       // lag and no commit for StallAfter
)

var conditions = []string{condKafka, condOffsets, condClickHouse, condDeadLetters, condStalled}

// health is the set of conditions in force, each with its reason.
type health struct {
	mu    sync.Mutex
	conds map[string]string
}

func (h *health) set(cond, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conds == nil {
		h.conds = map[string]string{}
	}
	h.conds[cond] = reason
}

func (h *health) clear(cond string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conds, cond)
}

func (h *health) has(cond string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.conds[cond]
	return ok
}

// err is every condition in force, sorted, or nil.
func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conds) == 0 {
		return nil
	}
	names := make([]string, 0, len(h.conds))
	for n := range h.conds {
		names = append(names, n)
	}
	sort.Strings(names)
	errs := make([]error, len(names))
	for i, n := range names {
		errs[i] = errors.New(h.conds[n])
	}
	return errors.Join(errs...)
}
