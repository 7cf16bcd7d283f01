// Package agent runs the node agent: sample GPUs, close windows, hand records to the sender.
//
// The sampling loop never waits on Kafka: closed records go through a queue to a sender goroutine that retries until
// Kafka acknowledges them.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
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
	// FlushTimeout bounds how long shutdown waits for Kafka to take the last records.
	FlushTimeout time.Duration
}

// Validate reports every problem at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Meta.Node == "" {
		errs = append(errs, errors.New("--node-name: empty (and the hostname could not be read)"))
	}
	if c.SamplePeriod <= 0 {
		errs = append(errs, fmt.Errorf("--sample-period: must be positive, got %s", c.SamplePeriod))
	}
	if c.Interval <= 0 || c.Interval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--interval: must be in (0, 24h], got %s", c.Interval))
	} else if c.SamplePeriod > 0 && (c.SamplePeriod > c.Interval || c.Interval%c.SamplePeriod != 0) {
		errs = append(errs, fmt.Errorf("--sample-period: %s must divide --interval %s", c.SamplePeriod, c.Interval))
	} else if (24*time.Hour)%c.Interval != 0 {
		errs = append(errs, fmt.Errorf("--interval: %s must divide a day, so intervals roll up into hours and days", c.Interval))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration: must not be negative, got %s", c.Duration))
	}
	return errors.Join(errs...)
}

// Sender delivers records; it returns only once they are durably accepted.
type Sender interface {
	Send(ctx context.Context, recs []schema.Record) error
}

// Stats are running totals, safe to read while the agent runs.
type Stats struct {
	Samples       atomic.Int64
	WindowsClosed atomic.Int64
	RecordsSent   atomic.Int64
	SendErrors    atomic.Int64
	ReadErrors    atomic.Int64
}

// Agent wires a GPU source, an attributor, a clock and a sender.
type Agent struct {
	cfg    Config
	clock  clock.Clock
	source *gpu.Source
	attr   attribution.Attributor
	sender Sender
	log    *slog.Logger
	Stats  Stats
}

// New builds an agent.
func New(cfg Config, clk clock.Clock, src *gpu.Source, attr attribution.Attributor, sender Sender, log *slog.Logger) *Agent {
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 30 * time.Second
	}
	return &Agent{cfg: cfg, clock: clk, source: src, attr: attr, sender: sender, log: log}
}

// Run samples until ctx is cancelled or Duration has passed, then flushes the open windows and waits (up to
// FlushTimeout after cancellation) for the sender to deliver everything. It returns an error if records could not
// be delivered.
func (a *Agent) Run(ctx context.Context) error {
	queue := make(chan []schema.Record, 256)
	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() { sendErr = a.send(ctx, queue) })

	acc := window.New(a.cfg.Interval, 3*a.cfg.SamplePeriod, a.cfg.Meta)
	start := a.clock.Now()
	next := start
	a.log.Info("agent sampling", "node", a.cfg.Meta.Node, "provider", a.cfg.Meta.Provider, "gpus", len(a.source.GPUs()),
		"sample_period", a.cfg.SamplePeriod, "interval", a.cfg.Interval, "start", start)
	for {
		if err := a.clock.SleepUntil(ctx, next); err != nil {
			break
		}
		now := a.clock.Now()
		samples, err := a.source.Read(now)
		if err != nil {
			a.Stats.ReadErrors.Add(1)
			a.log.Warn("gpu read failed", "err", err)
		}
		var closed []schema.Record
		for _, s := range samples {
			s.Attribution = a.attr.Attribution(s.GPU)
			closed = append(closed, acc.Add(s)...)
		}
		a.Stats.Samples.Add(int64(len(samples)))
		a.enqueue(queue, closed)
		if a.cfg.Duration > 0 && !now.Before(start.Add(a.cfg.Duration)) {
			break
		}
		next = next.Add(a.cfg.SamplePeriod)
		for !next.After(now) { // a late wake-up skips the samples it missed instead of bunching them
			next = next.Add(a.cfg.SamplePeriod)
		}
	}
	a.enqueue(queue, acc.Flush())
	close(queue)
	wg.Wait()
	a.log.Info("agent stopped", "samples", a.Stats.Samples.Load(), "windows", a.Stats.WindowsClosed.Load(),
		"sent", a.Stats.RecordsSent.Load())
	return sendErr
}

func (a *Agent) enqueue(queue chan<- []schema.Record, recs []schema.Record) {
	if len(recs) == 0 {
		return
	}
	a.Stats.WindowsClosed.Add(int64(len(recs)))
	queue <- recs
}

// send drains the queue in batches and retries each batch until it is accepted. After ctx is cancelled it keeps
// going for FlushTimeout so the last windows get out.
func (a *Agent) send(ctx context.Context, queue <-chan []schema.Record) error {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(a.cfg.FlushTimeout, cancel) })
	defer stop()
	const maxBatch = 5000
	var lost int
	for recs := range queue {
		batch := recs
	fill:
		for len(batch) < maxBatch {
			select {
			case more, ok := <-queue:
				if !ok {
					break fill
				}
				batch = append(batch, more...)
			default:
				break fill
			}
		}
		if err := a.sendWithRetry(sctx, batch); err != nil {
			lost += len(batch)
		}
	}
	if lost > 0 {
		return fmt.Errorf("%d records were not delivered before the shutdown deadline", lost)
	}
	return nil
}

func (a *Agent) sendWithRetry(ctx context.Context, batch []schema.Record) error {
	backoff := 200 * time.Millisecond
	for {
		err := a.sender.Send(ctx, batch)
		if err == nil {
			a.Stats.RecordsSent.Add(int64(len(batch)))
			return nil
		}
		a.Stats.SendErrors.Add(1)
		if ctx.Err() != nil {
			a.log.Error("records not delivered at shutdown", "records", len(batch), "err", err)
			return err
		}
		a.log.Warn("send failed; retrying", "records", len(batch), "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
