// Package clock gives the agent its time: the wall clock on real nodes, a virtual one for simulated fleets.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells time and waits for it.
type Clock interface {
	Now() time.Time
	// SleepUntil returns when the clock reads t or later, or with ctx's error.
	SleepUntil(ctx context.Context, t time.Time) error
}

// Real is the wall clock.
type Real struct{}

// Now returns the current UTC time.
func (Real) Now() time.Time { return time.Now().UTC() }

// SleepUntil waits on a timer.
func (Real) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// Virtual is a stepped clock for simulated machines: it stands still between SleepUntil calls and jumps to exactly
// the time asked for, so a simulated run measures exact durations. Speed paces it against the wall clock: at 3600 an
// hour passes in a second; 0 runs as fast as the work allows.
type Virtual struct {
	mu        sync.Mutex
	now       time.Time
	speed     float64
	realStart time.Time
	virtStart time.Time
}

// NewVirtual starts a virtual clock at start.
func NewVirtual(start time.Time, speed float64) *Virtual {
	return &Virtual{now: start.UTC(), speed: speed, realStart: time.Now(), virtStart: start.UTC()}
}

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// SleepUntil waits for the wall-clock moment that corresponds to t at the clock's speed, then sets the clock to t.
func (v *Virtual) SleepUntil(ctx context.Context, t time.Time) error {
	if v.speed > 0 {
		real := v.realStart.Add(time.Duration(float64(t.Sub(v.virtStart)) / v.speed))
		if err := (Real{}).SleepUntil(ctx, real); err != nil {
			return err
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.After(v.now) {
		v.now = t
	}
	return nil
}
