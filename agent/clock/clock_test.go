package clock

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

// manual is a clock the test sets; SleepUntil jumps to the time asked for.
type manual struct{ now time.Time }

func (m *manual) Now() time.Time { return m.now }
func (m *manual) SleepUntil(_ context.Context, t time.Time) error {
	if t.After(m.now) {
		m.now = t
	}
	return nil
}

func TestForwardNeverGoesBack(t *testing.T) {
	m := &manual{now: t0}
	f := NewForward(m)
	var seen []time.Duration
	f.OnStep = func(read, resumed time.Time) { seen = append(seen, resumed.Sub(read)) }

	if got := f.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %s, want %s", got, t0)
	}
	// A step back during a sleep: time resumes at the time slept until.
	if err := f.SleepUntil(t.Context(), t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	m.now = m.now.Add(-time.Hour)
	if got := f.Now(); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("after the step Now = %s, want %s", got, t0.Add(10*time.Second))
	}
	// Sleeping on goes by the inner clock plus the offset; no second step is seen.
	if err := f.SleepUntil(t.Context(), t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := f.Now(); !got.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("Now = %s, want %s", got, t0.Add(20*time.Second))
	}
	if n, d := f.Steps(); n != 1 || d != time.Hour || len(seen) != 1 {
		t.Fatalf("Steps = %d, %s; OnStep calls %v; want one step of 1h", n, d, seen)
	}
}

// Floor: a restarted agent's clock reads earlier than its checkpoint's last sample; time starts from that sample.
func TestForwardFloor(t *testing.T) {
	m := &manual{now: t0}
	f := NewForward(m)
	f.Floor(t0.Add(90 * time.Minute))
	if got := f.Now(); !got.Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("Now = %s, want the floor", got)
	}
	m.now = m.now.Add(time.Minute)
	if got := f.Now(); !got.Equal(t0.Add(91 * time.Minute)) {
		t.Fatalf("a minute later Now = %s", got)
	}
	if n, d := f.Steps(); n != 1 || d != 90*time.Minute {
		t.Fatalf("Steps = %d, %s", n, d)
	}
	// A floor behind the clock changes nothing.
	f.Floor(t0)
	if got := f.Now(); !got.Equal(t0.Add(91 * time.Minute)) {
		t.Fatalf("Now = %s after a floor in the past", got)
	}
}
