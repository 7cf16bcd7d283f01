// Package agent runs the node agent: sample GPUs, close windows, spool them, send them.
//
// A closed record is on disk (the spool) before it is sent and leaves the spool only when Kafka acknowledged it; the
// open windows are checkpointed every CheckpointPeriod. So a Kafka outage costs nothing but delay, and a kill -9
// costs at most one checkpoint period of measurement. The sampling loop never waits on Kafka.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/agent/window"
	"github.com/gpumeter/gpumeter/schema"
)

// Config is what the loop needs; the command validates it.
type Config struct {
	Meta         window.Meta
	SamplePeriod time.Duration
	Interval     time.Duration
	// Duration stops the agent after this much clock time, once everything is flushed; 0 runs until cancelled.
	Duration time.Duration
	// FlushTimeout bounds how long shutdown waits for Kafka to take the spool's backlog; what is left stays spooled
	// for the next start.
	FlushTimeout time.Duration
	// CheckpointPeriod is the wall-clock time between checkpoints of the open windows.
	CheckpointPeriod time.Duration
	// StateDir holds the checkpoint, checkpoint.json; the command passes --spool-dir, the directory the spool is in too.
	StateDir string
}

// Validate reports every problem at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Meta.Node == "" {
		errs = append(errs, errors.New("--node-name: empty (and the hostname could not be read)"))
	}
	if c.SamplePeriod < schema.MinSamplePeriod {
		errs = append(errs, fmt.Errorf("--sample-period: must be at least %s, got %s", schema.MinSamplePeriod, c.SamplePeriod))
	}
	// The collector holds records to the same rule (schema.CheckInterval), so an agent refuses at start what would
	// otherwise be dead-lettered record by record.
	if err := schema.CheckInterval(c.Interval); err != nil {
		errs = append(errs, fmt.Errorf("--interval: %w", err))
	} else if c.SamplePeriod > 0 && (c.SamplePeriod > c.Interval || c.Interval%c.SamplePeriod != 0) {
		errs = append(errs, fmt.Errorf("--sample-period: %s must divide --interval %s", c.SamplePeriod, c.Interval))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration: must not be negative, got %s", c.Duration))
	}
	if c.CheckpointPeriod < 0 {
		errs = append(errs, fmt.Errorf("--checkpoint-period: must not be negative, got %s", c.CheckpointPeriod))
	}
	return errors.Join(errs...)
}

// Message is an encoded record as Kafka takes it.
type Message struct{ Key, Value []byte }

// Sender delivers messages; it returns only once they are durably accepted.
type Sender interface {
	Send(ctx context.Context, msgs []Message) error
}

// Stats are running totals, safe to read while the agent runs.
type Stats struct {
	Samples       atomic.Int64
	WindowsClosed atomic.Int64
	RecordsSent   atomic.Int64
	SendErrors    atomic.Int64
	Checkpoints   atomic.Int64
}

// Agent wires a GPU source, an attributor, a clock, the spool and a sender.
type Agent struct {
	cfg    Config
	clock  clock.Clock
	source *gpu.Source
	attr   attribution.Attributor
	spool  *spool.Spool
	sender Sender
	log    *slog.Logger
	Stats  Stats

	wake chan struct{} // nudges the sender when the spool grew
}

// New builds an agent. The caller owns sp and closes it after Run.
func New(cfg Config, clk clock.Clock, src *gpu.Source, attr attribution.Attributor, sp *spool.Spool, sender Sender,
	log *slog.Logger) *Agent {
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 30 * time.Second
	}
	return &Agent{cfg: cfg, clock: clk, source: src, attr: attr, spool: sp, sender: sender, log: log,
		wake: make(chan struct{}, 1)}
}

func (a *Agent) checkpointPath() string { return filepath.Join(a.cfg.StateDir, "checkpoint.json") }

// Run samples until ctx is cancelled or Duration has passed, closes the open windows into the spool, then gives the
// sender FlushTimeout (from cancellation) to empty it. Records still spooled then are sent at the next start.
func (a *Agent) Run(ctx context.Context) error {
	acc := window.New(a.cfg.Interval, 3*a.cfg.SamplePeriod, a.cfg.Meta)
	if err := a.restore(acc); err != nil {
		return err
	}

	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	afterCancel := context.AfterFunc(ctx, func() { time.AfterFunc(a.cfg.FlushTimeout, stopSending) })
	defer afterCancel()
	var sampling atomic.Bool
	sampling.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { a.send(sendCtx, &sampling) })

	err := a.sample(ctx, acc)
	if ferr := a.close(acc, acc.Flush()); ferr != nil && err == nil {
		err = ferr
	}
	sampling.Store(false)
	a.nudge()
	wg.Wait()

	st := a.spool.Stats()
	a.log.Info("agent stopped", "samples", a.Stats.Samples.Load(), "windows", a.Stats.WindowsClosed.Load(),
		"sent", a.Stats.RecordsSent.Load(), "still_spooled", st.Entries)
	if st.Entries > 0 {
		a.log.Warn("records left in the spool; they are sent at the next start", "records", st.Entries,
			"spool_bytes", st.Bytes)
	}
	return err
}

// restore resumes the open windows of a previous process and re-spools the records it had closed.
func (a *Agent) restore(acc *window.Accumulator) error {
	if a.cfg.StateDir == "" {
		return nil
	}
	cp, ok, err := window.ReadCheckpoint(a.checkpointPath())
	if err != nil {
		// A torn checkpoint cannot happen (it is written by rename); an unreadable one is logged and set aside
		// rather than blocking the agent: losing one checkpoint period beats not metering at all.
		a.log.Error("checkpoint unreadable; starting without it", "path", a.checkpointPath(), "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	if err := acc.Restore(cp); err != nil {
		a.log.Error("checkpoint does not fit this agent; starting without it", "err", err)
		return nil
	}
	a.log.Info("resumed from checkpoint", "taken", cp.Taken, "gpus", len(cp.GPUs), "pending_records", len(cp.Pending))
	if len(cp.Pending) > 0 {
		return a.append(cp.Pending)
	}
	return nil
}

func (a *Agent) sample(ctx context.Context, acc *window.Accumulator) error {
	start := a.clock.Now()
	next := start
	lastCheckpoint := time.Now()
	a.log.Info("agent sampling", "node", a.cfg.Meta.Node, "provider", a.cfg.Meta.Provider, "gpus", len(a.source.GPUs()),
		"sample_period", a.cfg.SamplePeriod, "interval", a.cfg.Interval, "start", start)
	for {
		if err := a.clock.SleepUntil(ctx, next); err != nil {
			return nil
		}
		now := a.clock.Now()
		samples, err := a.source.Read(now)
		if err != nil {
			a.log.Warn("gpu read failed; what could not be read stays unmeasured", "err", err)
			if gpu.NeedsReinit(err) {
				if rerr := a.source.Reinit(); rerr != nil {
					a.log.Error("nvml re-initialisation failed; retrying at the next sample", "err", rerr)
				} else {
					a.log.Info("nvml re-initialised", "gpus", len(a.source.GPUs()))
				}
			}
		}
		var closed []schema.Record
		for _, s := range samples {
			s.Attribution = a.attr.Attribution(s.GPU)
			closed = append(closed, acc.Add(s)...)
		}
		a.Stats.Samples.Add(int64(len(samples)))
		if len(closed) > 0 || (a.cfg.CheckpointPeriod > 0 && time.Since(lastCheckpoint) >= a.cfg.CheckpointPeriod) {
			if err := a.checkpoint(acc, now, closed); err != nil {
				return err
			}
			lastCheckpoint = time.Now()
		}
		if err := a.append(closed); err != nil {
			return err
		}
		if a.cfg.Duration > 0 && !now.Before(start.Add(a.cfg.Duration)) {
			return nil
		}
		next = next.Add(a.cfg.SamplePeriod)
		for !next.After(now) { // a late wake-up skips the samples it missed instead of bunching them
			next = next.Add(a.cfg.SamplePeriod)
		}
	}
}

// checkpoint records the open windows and the just-closed records before those go to the spool (window.Checkpoint
// explains the order).
func (a *Agent) checkpoint(acc *window.Accumulator, now time.Time, closed []schema.Record) error {
	if a.cfg.StateDir == "" {
		return nil
	}
	if err := window.WriteCheckpoint(a.checkpointPath(), acc.Snapshot(now, closed)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	a.Stats.Checkpoints.Add(1)
	return nil
}

// close spools the final records and leaves a checkpoint with nothing open.
func (a *Agent) close(acc *window.Accumulator, final []schema.Record) error {
	if err := a.checkpoint(acc, a.clock.Now(), final); err != nil {
		return err
	}
	if err := a.append(final); err != nil {
		return err
	}
	return a.checkpoint(acc, a.clock.Now(), nil)
}

func (a *Agent) append(recs []schema.Record) error {
	if len(recs) == 0 {
		return nil
	}
	entries := make([]spool.Entry, len(recs))
	for i := range recs {
		b, err := schema.Encode(&recs[i])
		if err != nil {
			return err
		}
		entries[i] = spool.Entry{Key: recs[i].Key(), Value: b, Seconds: recs[i].ProvisionedSeconds, Time: recs[i].WindowEnd}
	}
	if err := a.spool.Append(entries); err != nil {
		return fmt.Errorf("spool %d records: %w", len(entries), err)
	}
	a.Stats.WindowsClosed.Add(int64(len(recs)))
	a.nudge()
	return nil
}

func (a *Agent) nudge() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// sendBatch is how many records go to Kafka in one write.
const sendBatch = 5000

// send empties the spool in order: read a batch, write it to Kafka, acknowledge it, repeat. It returns when ctx ends,
// or when sampling has stopped and the spool is empty.
func (a *Agent) send(ctx context.Context, sampling *atomic.Bool) {
	backoff := 200 * time.Millisecond
	for {
		entries, cursor, err := a.spool.Read(sendBatch)
		if err != nil {
			a.log.Error("read spool", "err", err)
		}
		if len(entries) == 0 {
			if !sampling.Load() || ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-a.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		msgs := make([]Message, len(entries))
		for i, e := range entries {
			msgs[i] = Message{Key: e.Key, Value: e.Value}
		}
		if err := a.sender.Send(ctx, msgs); err != nil {
			a.Stats.SendErrors.Add(1)
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("send failed; records stay spooled, retrying", "records", len(msgs), "backoff", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		if err := a.spool.Ack(cursor); err != nil {
			a.log.Error("acknowledge spooled records; they will be sent again", "err", err)
		}
		a.Stats.RecordsSent.Add(int64(len(msgs)))
	}
}
