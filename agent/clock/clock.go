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

// Forward keeps a meter's time moving forward when the clock under it steps back (NTP correcting a clock that ran
// ahead, a VM restored from a snapshot, an agent restarted with an earlier clock than its checkpoint).
//
// A record's identity includes its window start, and records already sent cover the time up to the last sample.
// Stamping new samples with the stepped-back time would give windows that overlap those records: the same GPU-hour
// counted twice, or one record replacing another of the same identity. Dropping them would make the agent blind until
// the clock caught up. Forward does neither: when the clock reads earlier than the latest time Forward handed out, it
// adds the step to an offset, so its time continues from where it was and every new measurement is kept, stamped
// after what was already recorded. The price is that records are stamped later than the stepped clock says, by the
// step, until the process ends; a restart recomputes the offset from the checkpoint (see Floor).
//
// A step during SleepUntil is measured by the sleep itself: Forward resumes at the time it was sleeping until, so the
// sample period spent across the step is not lost. Forward is safe for concurrent use.
type Forward struct {
	inner Clock
	// OnStep, if set, is called (without Forward's lock) for every backward step seen: the inner clock's reading and
	// the time Forward resumed from.
	OnStep func(read, resumed time.Time)

	mu      sync.Mutex
	offset  time.Duration
	last    time.Time // the latest time handed out
	woke    time.Time // target of the last completed SleepUntil: where time resumes after a step
	steps   int64
	stepped time.Duration
}

// NewForward wraps inner.
func NewForward(inner Clock) *Forward { return &Forward{inner: inner} }

// Floor makes the clock never read before t: the latest sample of a checkpoint a restarted agent resumes from. If the
// clock reads earlier, that is a backward step and handled as one.
func (f *Forward) Floor(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.last) {
		f.last = t
	}
}

// Now returns the inner clock's time plus the offset of every step seen, never earlier than a time returned before.
func (f *Forward) Now() time.Time {
	t, read, stepped := f.now()
	if stepped && f.OnStep != nil {
		f.OnStep(read, t)
	}
	return t
}

func (f *Forward) now() (t, read time.Time, stepped bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	read = f.inner.Now()
	t = read.Add(f.offset)
	if t.Before(f.last) {
		resume := f.last
		if f.woke.After(resume) {
			resume = f.woke
		}
		f.steps++
		f.stepped += resume.Sub(t)
		f.offset += resume.Sub(t)
		t, stepped = resume, true
	}
	f.last = t
	return t, read, stepped
}

// SleepUntil waits until the clock reads t. It reads the inner clock first, so that a step that happened since the
// last reading does not turn into a sleep as long as the step.
func (f *Forward) SleepUntil(ctx context.Context, t time.Time) error {
	f.Now()
	f.mu.Lock()
	target := t.Add(-f.offset)
	f.mu.Unlock()
	if err := f.inner.SleepUntil(ctx, target); err != nil {
		return err
	}
	f.mu.Lock()
	if t.After(f.woke) {
		f.woke = t
	}
	f.mu.Unlock()
	return nil
}

// Steps returns how many backward steps were seen and their total length.
func (f *Forward) Steps() (int64, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.steps, f.stepped
}
