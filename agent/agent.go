// Package agent runs the node agent: sample GPUs, close windows, spool them, send them.
//
// A closed record is on disk (the spool) before it is sent and leaves the spool only when Kafka acknowledged it; the
// open windows are checkpointed every CheckpointPeriod. So a Kafka outage costs nothing but delay, and a kill -9
// costs at most one checkpoint period of measurement. The sampling loop never waits on Kafka, and no failure of the
// disk or of Kafka stops it: such failures are logged, counted and reported by Ready.
//
// Time comes from a clock.Forward over the configured clock, so a clock that steps backwards (NTP, or a restart with
// an earlier clock than the checkpoint) neither blinds the agent nor gives records that overlap those already sent.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// Sender delivers spooled records (Key and Value) to Kafka; it returns only once they are durably accepted. An error
// may carry a kind for the metrics and /readyz: an error in its chain with a SendErrorKind() string method
// ("authentication", "unreachable", ...).
type Sender interface {
	Send(ctx context.Context, entries []spool.Entry) error
}

// Stats are running totals, safe to read while the agent runs.
type Stats struct {
	Samples          atomic.Int64
	WindowsClosed    atomic.Int64
	RecordsSent      atomic.Int64
	SendErrors       atomic.Int64
	ReadErrors       atomic.Int64
	Checkpoints      atomic.Int64
	CheckpointErrors atomic.Int64
	// SpoolErrors counts appends the spool refused (even after dropping its oldest records); the records stay in
	// memory (up to maxUnspooled) and are appended again at the next sample.
	SpoolErrors atomic.Int64
	// Unspooled is the number of closed records held in memory because the spool refused them; UnspooledDropped
	// counts those dropped beyond maxUnspooled, UnspooledDroppedSeconds their GPU-seconds.
	Unspooled               atomic.Int64
	UnspooledDropped        atomic.Int64
	unspooledDroppedSeconds atomic.Uint64 // float64 bits
}

// UnspooledDroppedSeconds is the GPU-seconds of records dropped from memory because the spool refused them.
func (s *Stats) UnspooledDroppedSeconds() float64 {
	return float64frombits(s.unspooledDroppedSeconds.Load())
}

// maxUnspooled bounds the closed records kept in memory while the spool cannot take them (a disk that is full with
// nothing of ours left to drop): about a day of one-minute records of an 8-GPU node.
const maxUnspooled = 8 * 24 * 60

// Agent wires a GPU source, an attributor, a clock, the spool and a sender.
type Agent struct {
	cfg    Config
	clock  *clock.Forward
	source *gpu.Source
	attr   attribution.Attributor
	spool  *spool.Spool
	sender Sender
	log    *slog.Logger
	Stats  Stats

	wake chan struct{} // nudges the sender when the spool grew

	latest atomic.Pointer[[]reading] // the last sample of every device, for the per-GPU gauges

	// The sampling loop's records that the spool refused, oldest first (only the sampling goroutine touches it).
	unspooled []schema.Record

	health   health
	readLog  rateLimited // GPU read failures: one line per minute at most, with the count
	spoolLog rateLimited
	sendLog  rateLimited
	ckptLog  rateLimited
}

// New builds an agent. The caller owns sp and closes it after Run. clk is wrapped in a clock.Forward unless it is one
// (pass the same Forward to the spool's Options.Now, so that its ages are on the agent's time).
func New(cfg Config, clk clock.Clock, src *gpu.Source, attr attribution.Attributor, sp *spool.Spool, sender Sender,
	log *slog.Logger) *Agent {
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 30 * time.Second
	}
	log = log.With("component", "agent")
	fw, ok := clk.(*clock.Forward)
	if !ok {
		fw = clock.NewForward(clk)
	}
	a := &Agent{cfg: cfg, clock: fw, source: src, attr: attr, spool: sp, sender: sender, log: log,
		wake: make(chan struct{}, 1), health: health{sendErrors: map[string]int64{}}}
	a.clock.OnStep = func(read, resumed time.Time) {
		// One line per step: after it the offset absorbs the difference, so the next samples do not step again.
		a.log.Warn("clock stepped back; measuring goes on with records stamped after those already sent (time offset by the step)",
			"clock_reads", read, "resumed_at", resumed, "step", resumed.Sub(read))
	}
	for _, l := range []*rateLimited{&a.readLog, &a.spoolLog, &a.sendLog, &a.ckptLog} {
		l.every = time.Minute
	}
	return a
}

// reading is a device's latest sample and the workloads it served then, for the per-GPU gauges.
type reading struct {
	sample gpu.Sample
	shares []attribution.Share
}

// shares is who s's device serves: several where the attributor splits shared devices.
func (a *Agent) shares(s gpu.Sample) []attribution.Share {
	if sh, ok := a.attr.(attribution.Sharer); ok {
		return sh.Shares(s)
	}
	return []attribution.Share{{Attribution: a.attr.Attribution(s.GPU), Weight: 1}}
}

// addSample hands s to the accumulator with the workloads its device serves: several at once where the attributor
// splits shared devices (attribution.Sharer), else the one it names.
func (a *Agent) addSample(acc *window.Accumulator, s gpu.Sample, latest *[]reading) []schema.Record {
	shares := a.shares(s)
	*latest = append(*latest, reading{sample: s, shares: shares})
	return acc.AddShared(s, shares)
}

// ClockSteps returns how many times the clock was seen stepping back, and by how much in all.
func (a *Agent) ClockSteps() (int64, time.Duration) { return a.clock.Steps() }

func (a *Agent) checkpointPath() string { return filepath.Join(a.cfg.StateDir, CheckpointFile) }

// Run samples until ctx is cancelled or Duration has passed, closes the open windows into the spool, then gives the
// sender FlushTimeout (from cancellation or from the end of Duration, whichever comes first) to empty it, even if
// Kafka cannot be reached. Records still spooled then are sent at the next start; the "agent stopped" line says how
// many.
func (a *Agent) Run(ctx context.Context) error {
	acc := window.New(a.cfg.Interval, 3*a.cfg.SamplePeriod, a.cfg.Meta)
	if err := a.restore(acc); err != nil {
		return err
	}

	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	var flushOnce sync.Once
	startFlushTimer := func() {
		flushOnce.Do(func() { time.AfterFunc(a.cfg.FlushTimeout, stopSending) })
	}
	afterCancel := context.AfterFunc(ctx, startFlushTimer)
	defer afterCancel()
	var sampling atomic.Bool
	sampling.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { a.send(sendCtx, &sampling) })

	a.sample(ctx, acc)
	a.close(acc, acc.Flush())
	sampling.Store(false)
	startFlushTimer()
	a.nudge()
	wg.Wait()

	st := a.spool.Stats()
	steps, stepped := a.clock.Steps()
	a.log.Info("agent stopped", "samples", a.Stats.Samples.Load(), "windows", a.Stats.WindowsClosed.Load(),
		"sent", a.Stats.RecordsSent.Load(), "still_spooled", st.Entries, "not_spooled", len(a.unspooled),
		"dropped_records", st.DroppedEntries, "dropped_gpu_seconds", st.DroppedSeconds,
		"corrupt_records", st.CorruptEntries, "corrupt_gpu_seconds", st.CorruptSeconds,
		"missing_segments", st.MissingSegments, "clock_steps_back", steps, "clock_stepped_back_by", stepped)
	if st.Entries > 0 {
		a.log.Warn("records left in the spool; they are sent at the next start", "records", st.Entries,
			"spool_bytes", st.Bytes)
	}
	if len(a.unspooled) > 0 {
		a.log.Error("records the spool could not take are lost with this process", "records", len(a.unspooled),
			"gpu_seconds", seconds(a.unspooled))
	}
	return nil
}

// restore resumes the open windows of a previous process and re-spools the records it had closed. The clock is not
// let read earlier than the checkpoint's last sample.
func (a *Agent) restore(acc *window.Accumulator) error {
	if a.cfg.StateDir == "" {
		return nil
	}
	cp, ok, err := ReadCheckpoint(a.checkpointPath())
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
	last, _ := acc.Last()
	a.clock.Floor(last)
	a.log.Info("resumed from checkpoint", "taken", cp.Taken, "last_sample", last, "gpus", len(cp.GPUs),
		"pending_records", len(cp.Pending))
	a.append(cp.Pending)
	return nil
}

// sample runs the sampling loop until ctx ends or Duration has passed. Nothing stops it early: read, checkpoint and
// spool failures are logged (rate-limited), counted, and reported by Ready.
func (a *Agent) sample(ctx context.Context, acc *window.Accumulator) {
	start := a.clock.Now()
	next := start
	lastCheckpoint := time.Now()
	a.log.Info("agent sampling", "node", a.cfg.Meta.Node, "provider", a.cfg.Meta.Provider, "gpus", len(a.source.GPUs()),
		"sample_period", a.cfg.SamplePeriod, "interval", a.cfg.Interval, "start", start)
	for {
		if err := a.clock.SleepUntil(ctx, next); err != nil {
			return
		}
		now := a.clock.Now()
		samples, err := a.source.Read(now)
		if err != nil {
			a.Stats.ReadErrors.Add(1)
			if n, ok := a.readLog.allow(); ok {
				a.log.Warn("gpu read failed; what could not be read stays unmeasured", "err", err, "failures_since_last_line", n)
			}
			if gpu.NeedsReinit(err) {
				if rerr := a.source.Reinit(); rerr != nil {
					a.log.Error("nvml re-initialisation failed; retrying at the next sample", "err", rerr)
				} else {
					a.log.Info("nvml re-initialised", "gpus", len(a.source.GPUs()))
				}
			}
		}
		a.health.sampled(len(samples), err)
		var closed []schema.Record
		latest := make([]reading, 0, len(samples))
		for _, s := range samples {
			closed = append(closed, a.addSample(acc, s, &latest)...)
		}
		a.latest.Store(&latest)
		a.Stats.Samples.Add(int64(len(samples)))
		if len(closed) > 0 || (a.cfg.CheckpointPeriod > 0 && time.Since(lastCheckpoint) >= a.cfg.CheckpointPeriod) {
			a.checkpoint(acc, now, closed)
			lastCheckpoint = time.Now()
		}
		a.append(closed)
		if a.cfg.Duration > 0 && !now.Before(start.Add(a.cfg.Duration)) {
			return
		}
		next = next.Add(a.cfg.SamplePeriod)
		for !next.After(now) { // a late wake-up skips the samples it missed instead of bunching them
			next = next.Add(a.cfg.SamplePeriod)
		}
	}
}

// checkpoint records the open windows and the just-closed records (with any the spool refused before) before those go
// to the spool (window.Checkpoint explains the order). A failure is logged and reported by Ready; the records still
// go to the spool.
func (a *Agent) checkpoint(acc *window.Accumulator, now time.Time, closed []schema.Record) bool {
	if a.cfg.StateDir == "" {
		return true
	}
	// Records the spool refused so far are pending too: a crash must not lose them.
	pending := append(append([]schema.Record(nil), a.unspooled...), closed...)
	err := WriteCheckpoint(a.checkpointPath(), acc.Snapshot(now, pending))
	a.health.checkpointed(err)
	if err != nil {
		a.Stats.CheckpointErrors.Add(1)
		// The previous checkpoint holds windows that are closed (and spooled) by now: restored after a crash they
		// would come back as open windows and send shorter copies under the same identities. Without it a crash
		// loses the open windows, which is the lesser harm. Removing needs no disk space.
		rmErr := os.Remove(a.checkpointPath())
		if errors.Is(rmErr, os.ErrNotExist) {
			rmErr = nil
		}
		if n, ok := a.ckptLog.allow(); ok {
			a.log.Error("checkpoint failed; removed the stale one, so a kill now loses the open windows", "err", err,
				"remove_err", rmErr, "failures_since_last_line", n)
		}
		return false
	}
	a.Stats.Checkpoints.Add(1)
	return true
}

// close spools the final records and leaves a checkpoint with nothing open (or none, if it cannot be written).
func (a *Agent) close(acc *window.Accumulator, final []schema.Record) {
	now := a.clock.Now()
	a.checkpoint(acc, now, final)
	a.append(final)
	a.checkpoint(acc, now, nil)
}

// append spools recs after any records the spool refused before. What it still refuses stays in memory, bounded by
// maxUnspooled (the oldest go first, counted).
func (a *Agent) append(recs []schema.Record) {
	if len(recs) == 0 && len(a.unspooled) == 0 {
		return
	}
	all := append(a.unspooled, recs...)
	entries := make([]spool.Entry, 0, len(all))
	keep := all[:0:0]
	for i := range all {
		b, err := schema.Encode(&all[i])
		if err != nil {
			// A record the agent built and cannot encode is a bug; it would never encode on a retry either.
			a.log.Error("record cannot be encoded; dropped", "gpu", all[i].GPUUUID, "window_start", all[i].WindowStart, "err", err)
			continue
		}
		keep = append(keep, all[i])
		entries = append(entries, spool.Entry{Key: all[i].Key(), Value: b, Seconds: all[i].ProvisionedSeconds, Time: all[i].WindowEnd})
	}
	err := a.spool.Append(entries)
	a.health.spooled(err)
	if err != nil {
		a.Stats.SpoolErrors.Add(1)
		if over := len(keep) - maxUnspooled; over > 0 {
			a.Stats.UnspooledDropped.Add(int64(over))
			addFloat(&a.Stats.unspooledDroppedSeconds, seconds(keep[:over]))
			keep = keep[over:]
		}
		a.unspooled = keep
		a.Stats.Unspooled.Store(int64(len(keep)))
		if n, ok := a.spoolLog.allow(); ok {
			a.log.Error("spool refused records; they are kept in memory and appended again at the next sample",
				"records", len(keep), "err", err, "failures_since_last_line", n)
		}
		return
	}
	if len(a.unspooled) > 0 {
		a.log.Info("spool takes records again", "records_held_in_memory", len(a.unspooled))
	}
	a.unspooled = nil
	a.Stats.Unspooled.Store(0)
	a.Stats.WindowsClosed.Add(int64(len(keep)))
	a.nudge()
}

func seconds(recs []schema.Record) float64 {
	var s float64
	for i := range recs {
		s += recs[i].ProvisionedSeconds
	}
	return s
}

func (a *Agent) nudge() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// sendBatch is how many records go to Kafka in one write.
const sendBatch = 5000

// Backoff between failed sends: doubling from minBackoff up to maxBackoff.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// send empties the spool in order: read a batch, write it to Kafka, acknowledge it, repeat. It returns when ctx ends,
// or when sampling has stopped and the spool is empty.
func (a *Agent) send(ctx context.Context, sampling *atomic.Bool) {
	backoff := minBackoff
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
		if err := a.sender.Send(ctx, entries); err != nil {
			a.Stats.SendErrors.Add(1)
			if ctx.Err() != nil {
				return
			}
			kind := ErrorKind(err)
			a.health.sent(kind, err)
			if n, ok := a.sendLog.allow(); ok {
				a.log.Warn("send failed; records stay spooled, retrying", "records", len(entries), "backoff", backoff,
					"kind", kind, "err", err, "failures_since_last_line", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		a.health.sent("", nil)
		backoff = minBackoff
		if err := a.spool.Ack(cursor); err != nil {
			a.log.Error("acknowledge spooled records; they will be sent again", "err", err)
		}
		a.Stats.RecordsSent.Add(int64(len(entries)))
	}
}

// ErrorKind names the kind of a send error for metrics and readiness: the SendErrorKind() of an error in its chain,
// or "other".
func ErrorKind(err error) string {
	var k interface{ SendErrorKind() string }
	if errors.As(err, &k) {
		return k.SendErrorKind()
	}
	return "other"
}

// Ready is the agent's readiness check: nil only while sampling and sending work. It says why not: the GPUs could
// not be read, no sample for a while, the last send failed (authentication, unreachable brokers), the spool cannot
// take records or its disk is full, the checkpoint cannot be written.
func (a *Agent) Ready(context.Context) error {
	var problems []string
	problems = append(problems, a.health.problems(time.Now(), a.sampleStall())...)
	if st := a.spool.Stats(); st.DiskFull {
		problems = append(problems, fmt.Sprintf("spool disk full: %d bytes free, records are dropped oldest first (%d dropped so far)",
			st.DiskFreeBytes, st.DroppedEntries))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// sampleStall is how long the sampling loop may go without a sample before Ready fails: three periods, and no less
// than 30 s of wall time (a virtual clock runs faster than the wall clock).
func (a *Agent) sampleStall() time.Duration { return max(30*time.Second, 3*a.cfg.SamplePeriod) }
