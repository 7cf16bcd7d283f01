// Package consumetest holds fakes for testing code that hands batches to an Inserter, without ClickHouse: a recording
// Sink, in the manner of OpenTelemetry's consumertest.Sink.
package consumetest

import (
	"context"
	"sync"

	"github.com/gpumeter/gpumeter/collector/store"
)

// Sink records every batch it is given. Fail, when set, decides each call's result before anything is recorded: a
// batch that fails is not recorded. Safe for concurrent use.
type Sink struct {
	Fail func(ctx context.Context, rows []store.Row) error

	mu      sync.Mutex
	batches [][]store.Row
	calls   int
}

// Insert records rows unless Fail says otherwise.
func (s *Sink) Insert(ctx context.Context, rows []store.Row) error {
	s.mu.Lock()
	s.calls++
	fail := s.Fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(ctx, rows); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, append([]store.Row(nil), rows...))
	return nil
}

// Rows is every row recorded, in order.
func (s *Sink) Rows() []store.Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Row
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

// Len is how many rows were recorded.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.batches {
		n += len(b)
	}
	return n
}

// Batches is how many batches were recorded.
func (s *Sink) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// Calls is how many times Insert was called, failed calls included.
func (s *Sink) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Reset forgets every recorded batch and call.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches, s.calls = nil, 0
}
