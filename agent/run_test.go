package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/sim"
	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/agent/window"
	"github.com/gpumeter/gpumeter/internal/telemetry"
	"github.com/gpumeter/gpumeter/schema"
)

// These tests run agent.Agent with a simulated DGX H100 on a virtual clock (as fast as the work allows), a real spool
// in a temporary directory and a fake Sender: no services.

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

const (
	period   = 10 * time.Second
	interval = time.Minute
	gpus     = 8
)

// fakeSender records what it accepted; fail decides, per call, whether that call fails and with what.
type fakeSender struct {
	mu    sync.Mutex
	got   []schema.Record
	calls int
	fail  func(call int) error
}

func (f *fakeSender) Send(_ context.Context, entries []spool.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(f.calls); err != nil {
			return err
		}
	}
	for _, e := range entries {
		r, err := schema.Decode(e.Value)
		if err != nil {
			return fmt.Errorf("fake sender: %w", err)
		}
		f.got = append(f.got, r)
	}
	return nil
}

func (f *fakeSender) records() []schema.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]schema.Record(nil), f.got...)
}

// kindError is a send error with a kind, as agent/send returns them.
type kindError struct{ kind string }

func (e kindError) Error() string         { return "fake " + e.kind + " failure" }
func (e kindError) SendErrorKind() string { return e.kind }

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is one agent process: its clock starts at start and it runs for d.
type rig struct {
	agent *Agent
	spool *spool.Spool
	log   *logBuf
}

type rigOpts struct {
	dir      string
	start    time.Time
	d        time.Duration
	sender   Sender
	clk      clock.Clock // default: a virtual clock at start, as fast as possible
	flush    time.Duration
	freeDisk func(string) (int64, error)
	simOpts  []sim.Option
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	lb := &logBuf{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vclk := clock.NewVirtual(o.start, 0)
	clk := o.clk
	if clk == nil {
		clk = vclk
	}
	w, err := sim.ParseWorkload("0.6")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := sim.New("dgxh100", "node-a", w, vclk.Now, o.simOpts...)
	if err != nil {
		t.Fatal(err)
	}
	src, err := gpu.Open(lib, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	if o.freeDisk == nil {
		o.freeDisk = func(string) (int64, error) { return 1 << 50, nil }
	}
	sp, err := spool.OpenWait(t.Context(), spool.Options{Dir: o.dir, Log: log, FreeBytes: o.freeDisk, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	cfg := Config{Meta: window.Meta{Node: "node-a", Provider: "azure"}, SamplePeriod: period, Interval: interval,
		Duration: o.d, FlushTimeout: o.flush, CheckpointPeriod: time.Hour, StateDir: o.dir}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &rig{agent: New(cfg, clk, src, attribution.Static{}, sp, o.sender, log), spool: sp, log: lb}
}

// run runs the agent to its end; a hang is reported, not waited out.
func (r *rig) run(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.agent.Run(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("Run did not return (hang guard); log:\n%s", r.log)
	}
}

// perGPU sums provisioned seconds by GPU and checks that no two records of a GPU overlap or share an identity.
func perGPU(t *testing.T, recs []schema.Record) map[string]float64 {
	t.Helper()
	byGPU := map[string][]schema.Record{}
	for _, r := range recs {
		byGPU[r.GPUUUID] = append(byGPU[r.GPUUUID], r)
	}
	out := map[string]float64{}
	for g, rs := range byGPU {
		sort.Slice(rs, func(i, j int) bool { return rs[i].WindowStart.Before(rs[j].WindowStart) })
		for i, r := range rs {
			out[g] += r.ProvisionedSeconds
			if i > 0 && r.WindowStart.Before(rs[i-1].WindowEnd) {
				t.Errorf("GPU %s: record %s..%s overlaps %s..%s", g, r.WindowStart, r.WindowEnd,
					rs[i-1].WindowStart, rs[i-1].WindowEnd)
			}
			if i > 0 && r.WindowStart.Unix() == rs[i-1].WindowStart.Unix() {
				t.Errorf("GPU %s: two records share the identity window_start %s", g, r.WindowStart)
			}
		}
	}
	if len(out) != gpus {
		t.Errorf("%d GPUs in the records, want %d", len(out), gpus)
	}
	return out
}

func wantEach(t *testing.T, got map[string]float64, want time.Duration) {
	t.Helper()
	for g, s := range got {
		if s != want.Seconds() {
			t.Errorf("GPU %s: %g s provisioned, want exactly %g", g, s, want.Seconds())
		}
	}
}

func TestRunDeliversEverything(t *testing.T) {
	snd := &fakeSender{}
	r := newRig(t, rigOpts{dir: t.TempDir(), start: t0, d: 10 * time.Minute, sender: snd})
	r.run(t)
	wantEach(t, perGPU(t, snd.records()), 10*time.Minute)
	if st := r.spool.Stats(); st.Entries != 0 {
		t.Errorf("%d records left in the spool", st.Entries)
	}
	if err := r.agent.Ready(t.Context()); err != nil {
		t.Errorf("not ready after a clean run: %v", err)
	}
}

// Failed sends are retried with backoff; nothing is lost or sent twice with different content.
func TestRunBacksOffAndResends(t *testing.T) {
	snd := &fakeSender{fail: func(call int) error {
		if call <= 3 {
			return kindError{"unreachable"}
		}
		return nil
	}}
	r := newRig(t, rigOpts{dir: t.TempDir(), start: t0, d: 5 * time.Minute, sender: snd})
	r.run(t)
	wantEach(t, perGPU(t, snd.records()), 5*time.Minute)
	if n := r.agent.Stats.SendErrors.Load(); n != 3 {
		t.Errorf("%d send errors counted, want 3", n)
	}
	if got := r.agent.SendErrorsByKind()["unreachable"]; got != 3 {
		t.Errorf("send errors by kind: %v", r.agent.SendErrorsByKind())
	}
}

// Issue: --duration never ended the run while Kafka was unreachable. Now the flush timeout starts when sampling ends;
// what was measured stays in the spool and the exit line says how much.
func TestDurationEndsWithKafkaDown(t *testing.T) {
	snd := &fakeSender{fail: func(int) error { return kindError{"unreachable"} }}
	dir := t.TempDir()
	r := newRig(t, rigOpts{dir: dir, start: t0, d: 5 * time.Minute, sender: snd, flush: 300 * time.Millisecond})
	r.run(t)
	st := r.spool.Stats()
	if want := 5 * gpus; st.Entries != want {
		t.Errorf("%d records spooled, want %d", st.Entries, want)
	}
	if r.log.count(fmt.Sprintf("still_spooled=%d", st.Entries)) != 1 {
		t.Errorf("the exit line does not say how many records stay spooled:\n%s", r.log)
	}
	if err := r.agent.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "sending to Kafka fails") {
		t.Errorf("Ready with every send failing: %v", err)
	}

	// The next start sends them.
	r.spool.Close()
	snd2 := &fakeSender{}
	r2 := newRig(t, rigOpts{dir: dir, start: t0.Add(10 * time.Minute), d: time.Minute, sender: snd2})
	r2.run(t)
	wantEach(t, perGPU(t, snd2.records()), 6*time.Minute)
}

// An agent whose every send is refused for its credentials (a wrong SASL password) is not ready, and says why.
func TestAuthenticationFailureIsNotReady(t *testing.T) {
	snd := &fakeSender{fail: func(int) error { return fmt.Errorf("write: %w", kindError{"authentication"}) }}
	r := newRig(t, rigOpts{dir: t.TempDir(), start: t0, d: 2 * time.Minute, sender: snd, flush: 300 * time.Millisecond})
	r.run(t)
	err := r.agent.Ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("Ready: %v, want it to name the credentials", err)
	}
	if r.agent.SendErrorsByKind()["authentication"] == 0 {
		t.Errorf("no authentication failures counted: %v", r.agent.SendErrorsByKind())
	}
	// One warning per minute at most, however often the sends fail.
	if n := r.log.count("send failed"); n != 1 {
		t.Errorf("%d 'send failed' lines for %d failed sends, want 1 (rate-limited)", n, r.agent.Stats.SendErrors.Load())
	}
}

// Issue 7 item 8: run an agent from 02:00 for 30 min, restart it on the same state directory with its clock at 01:00
// for 2 h. Before, it sampled 2 h and sent 30 min (every sample before the checkpoint's last was dropped). Now the
// step is detected, logged once and counted, and all 2 h are kept, stamped after what was already sent.
func TestRestartWithClockBehindCheckpoint(t *testing.T) {
	dir := t.TempDir()
	snd := &fakeSender{}
	first := newRig(t, rigOpts{dir: dir, start: t0, d: 30 * time.Minute, sender: snd})
	first.run(t)
	first.spool.Close()
	second := newRig(t, rigOpts{dir: dir, start: t0.Add(-time.Hour), d: 2 * time.Hour, sender: snd})
	second.run(t)
	wantEach(t, perGPU(t, snd.records()), 150*time.Minute)
	if n, d := second.agent.ClockSteps(); n != 1 || d != 90*time.Minute {
		t.Errorf("clock steps: %d of %s in all, want 1 of 1h30m", n, d)
	}
	if n := second.log.count("clock stepped back"); n != 1 {
		t.Errorf("%d log lines about the step, want 1:\n%s", n, second.log)
	}
}

// steppingClock is a virtual clock that reads step earlier from at on, as NTP stepping a fast clock back would.
type steppingClock struct {
	inner    *clock.Virtual
	at       time.Time
	step     time.Duration
	mu       sync.Mutex
	stepping bool
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.inner.Now()
	if !now.Before(c.at) {
		c.stepping = true
	}
	if c.stepping {
		return now.Add(-c.step)
	}
	return now
}

func (c *steppingClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	if c.stepping {
		t = t.Add(c.step)
	}
	c.mu.Unlock()
	return c.inner.SleepUntil(ctx, t)
}

// A clock stepping back under a running agent: the open windows close, measuring goes on without a gap and without
// overlapping what was already recorded; the step is logged once and counted.
func TestClockStepsBackWhileRunning(t *testing.T) {
	snd := &fakeSender{}
	clk := &steppingClock{inner: clock.NewVirtual(t0, 0), at: t0.Add(10*time.Minute + 25*time.Second), step: time.Hour}
	r := newRig(t, rigOpts{dir: t.TempDir(), start: t0, d: 30 * time.Minute, sender: snd, clk: clk})
	r.run(t)
	wantEach(t, perGPU(t, snd.records()), 30*time.Minute)
	if n, d := r.agent.ClockSteps(); n != 1 || d != time.Hour {
		t.Errorf("clock steps: %d of %s, want 1 of 1h", n, d)
	}
	if n := r.log.count("clock stepped back"); n != 1 {
		t.Errorf("%d log lines about the step, want 1", n)
	}
}

// Two agents of one node share the state directory (a DaemonSet rolling update starts the new pod while the old one
// still runs). The second waits for the first's lock, then resumes from its checkpoint: no time is metered twice.
func TestSecondAgentWaitsAndResumes(t *testing.T) {
	dir := t.TempDir()
	snd := &fakeSender{}
	first := newRig(t, rigOpts{dir: dir, start: t0, d: 5*time.Minute + 20*time.Second, sender: snd})
	secondReady := make(chan *rig)
	go func() {
		// Started 2 min into the first one's run: its clock reads earlier than the first's last sample.
		secondReady <- newRig(t, rigOpts{dir: dir, start: t0.Add(2 * time.Minute), d: 5 * time.Minute, sender: snd})
	}()
	select {
	case <-secondReady:
		t.Fatal("the second agent opened the state directory while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	first.run(t)
	first.spool.Close()
	second := <-secondReady
	second.run(t)
	wantEach(t, perGPU(t, snd.records()), 10*time.Minute+20*time.Second)
	if second.log.count("waiting for it to stop") != 1 {
		t.Errorf("the second agent did not say it waited:\n%s", second.log)
	}
}

// A full disk: the spool drops its oldest records (counted) and measuring goes on; Ready says "disk full".
func TestDiskFullIsNotReady(t *testing.T) {
	snd := &fakeSender{fail: func(int) error { return kindError{"unreachable"} }}
	dir := t.TempDir()
	// A disk with 64 KiB beyond the default 32 MiB reserve when the spool is empty; the spool's own files use it up.
	free := func(string) (int64, error) { return 32<<20 + 64<<10 - dirBytes(t, dir), nil }
	r := newRig(t, rigOpts{dir: dir, start: t0, d: 4 * time.Hour, sender: snd, freeDisk: free,
		flush: 100 * time.Millisecond})
	r.run(t)
	st := r.spool.Stats()
	if !st.DiskFull {
		t.Fatalf("spool stats %+v: want disk full", st)
	}
	err := r.agent.Ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Ready: %v, want disk full", err)
	}
	if n := r.agent.Stats.Samples.Load(); n != gpus*(4*360+1) {
		t.Errorf("%d samples, want every one of 4 h (measuring goes on)", n)
	}
	if st.DroppedEntries == 0 || st.DroppedSeconds == 0 {
		t.Errorf("nothing counted as dropped: %+v", st)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Error(err)
	}
	for _, de := range des {
		if info, err := de.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

// What an operator sees on /metrics and /readyz for the states above, through the real telemetry handler.
func TestMetricsAndReadyz(t *testing.T) {
	snd := &fakeSender{fail: func(int) error { return kindError{"authentication"} }}
	clk := &steppingClock{inner: clock.NewVirtual(t0, 0), at: t0.Add(time.Minute), step: time.Hour}
	r := newRig(t, rigOpts{dir: t.TempDir(), start: t0, d: 3 * time.Minute, sender: snd, clk: clk,
		flush: 100 * time.Millisecond, simOpts: []sim.Option{sim.TemperatureNotSupported(1), sim.ClockNotSupported(1),
			sim.MIG(7, "3g.40gb", "3g.40gb")}})
	tel, err := telemetry.Start(t.Context(), telemetry.Config{Service: "gpumeter-agent"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(t.Context())) }()
	if err := r.agent.RegisterMetrics(tel.Meter("gpumeter-agent")); err != nil {
		t.Fatal(err)
	}
	tel.AddReadiness("agent", r.agent.Ready)
	r.run(t)

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		tel.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`gpumeter_agent_send_errors_total{kind="authentication"} `,
		"gpumeter_agent_clock_steps_back_total 1",
		"gpumeter_agent_clock_offset_seconds 3600",
		"gpumeter_agent_spool_disk_full 0",
		"gpumeter_agent_spool_disk_free_bytes ",
		`gpumeter_agent_spool_dropped_records_total{reason="corrupt"} 0`,
		`gpumeter_agent_spool_dropped_records_total{reason="full"} 0`,
		`gpumeter_agent_spool_dropped_records_total{reason="memory"} 0`,
		`gpumeter_agent_spool_dropped_gpu_time_seconds_total{reason="corrupt"} 0`,
		"gpumeter_agent_spool_missing_segments_total 0",
		"gpumeter_agent_checkpoint_errors_total 0",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want)).MatchString(metrics) {
			t.Errorf("/metrics has no line %q", want)
		}
	}
	// Per-GPU gauges (hw.gpu.*), labelled with the device and the pod it serves.
	for _, want := range []string{
		`(?m)^hw_gpu_utilization_ratio\{.*gpu_index="0".*gpu_uuid="GPU-.*pod="[^"]*".*\} 0\.6$`,
		`(?m)^hw_gpu_memory_limit_bytes\{.*gpu_model="[^"]+".*\} 8\.589934592e\+10$`,
		`(?m)^hw_gpu_memory_usage_bytes\{.*\} [1-9]`,
		`(?m)^hw_power_watts\{.*hw_type="gpu".*\} [1-9]`,
		`(?m)^hw_energy_joules_total\{.*\} `,
		`(?m)^hw_gpu_share_ratio\{.*\} 1$`,
		// 30 + 45 × 0.6 °C and 345 + 0.6 × (1980 − 345) MHz: the simulator's curves.
		`(?m)^hw_temperature_celsius\{.*gpu_index="0".*hw_type="gpu".*\} 57$`,
		`(?m)^hw_gpu_speed_hertz\{.*gpu_index="0".*\} 1\.326e\+09$`,
		// A MIG instance: its parent's temperature and clock, and 3/7 of the board's power.
		`(?m)^hw_temperature_celsius\{.*gpu_index="7".*mig_profile="3g\.40gb".*parent_gpu_uuid="GPU-.*\} 57$`,
		`(?m)^hw_gpu_speed_hertz\{.*gpu_index="7".*mig_profile="3g\.40gb".*\} 1\.326e\+09$`,
		`(?m)^hw_power_watts\{.*gpu_index="7".*mig_profile="3g\.40gb".*\} 192$`, // (70 + 0.6 × 630) W × 3/7
	} {
		if !regexp.MustCompile(want).MatchString(metrics) {
			t.Errorf("/metrics has no line matching %s\n%s", want, regexp.MustCompile(`(?m)^hw_.*gpu_index="[07]".*$`).FindAllString(metrics, -1))
		}
	}
	// NOT_SUPPORTED is absent, not zero.
	for _, name := range []string{"hw_temperature_celsius", "hw_gpu_speed_hertz"} {
		if regexp.MustCompile(`(?m)^` + name + `\{.*gpu_index="1".*$`).MatchString(metrics) {
			t.Errorf("/metrics has %s for GPU 1, whose NVML says NOT_SUPPORTED", name)
		}
	}
	code, body := get("/readyz")
	if code != 503 || !strings.Contains(body, "credentials") {
		t.Errorf("/readyz: %d %q, want 503 naming the credentials", code, body)
	}
}

// A GPU lost mid-run fails every sample's read; the warning is rate-limited (the count goes on in the metrics), the
// other GPUs are measured, and the agent stays ready.
func TestLostGPUWarnsOnce(t *testing.T) {
	snd := &fakeSender{}
	r := newRig(t, rigOpts{dir: t.TempDir(), start: t0, d: 30 * time.Minute, sender: snd,
		simOpts: []sim.Option{sim.LostAt(3, t0.Add(5*time.Minute))}})
	r.run(t)
	if n := r.log.count("gpu read failed"); n != 1 {
		t.Errorf("%d 'gpu read failed' lines for %d failed reads, want 1", n, r.agent.Stats.ReadErrors.Load())
	}
	if r.agent.Stats.ReadErrors.Load() < 100 {
		t.Errorf("only %d failed reads counted", r.agent.Stats.ReadErrors.Load())
	}
	if err := r.agent.Ready(t.Context()); err != nil {
		t.Errorf("one lost GPU of 8 made the agent unready: %v", err)
	}
}

// hookClock is a virtual clock that runs fn once when it first reaches at.
type hookClock struct {
	*clock.Virtual
	at   time.Time
	fn   func()
	once sync.Once
}

func (c *hookClock) SleepUntil(ctx context.Context, t time.Time) error {
	err := c.Virtual.SleepUntil(ctx, t)
	if !c.Now().Before(c.at) {
		c.once.Do(c.fn)
	}
	return err
}

// A disk that is full of other files (a real tmpfs, filled): the spool cannot take records and has nothing of its own
// to drop. Measuring goes on, the closed records wait in memory, Ready says why, and once the disk has room they are
// spooled and delivered: nothing is lost. Needs mount(2) (root).
func TestSpoolRefusesThenRecovers(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	hog, err := os.Create(filepath.Join(mnt, "hog"))
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := hog.Write(buf); err != nil {
			break
		}
	}
	var readyErr error
	snd := &fakeSender{}
	var r *rig
	clk := &hookClock{Virtual: clock.NewVirtual(t0, 0), at: t0.Add(20 * time.Minute), fn: func() {
		readyErr = r.agent.Ready(context.Background())
		_ = hog.Truncate(0)
	}}
	dir := filepath.Join(mnt, "state")
	r = newRig(t, rigOpts{dir: dir, start: t0, d: 30 * time.Minute, sender: snd, clk: clk,
		freeDisk: func(string) (int64, error) { return 1 << 40, nil }})
	r.run(t)
	if readyErr == nil || !strings.Contains(readyErr.Error(), "spool cannot take records") {
		t.Errorf("Ready while the disk was full: %v", readyErr)
	}
	if r.agent.Stats.SpoolErrors.Load() == 0 {
		t.Fatal("the spool never refused a record: the disk was not full")
	}
	wantEach(t, perGPU(t, snd.records()), 30*time.Minute)
	if err := r.agent.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the disk had room again: %v", err)
	}
}
