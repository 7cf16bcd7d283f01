// Command gpumeter-agent meters the GPUs of one node and streams usage records to Kafka.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/gpumeter/gpumeter/agent"
	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/provider"
	"github.com/gpumeter/gpumeter/agent/send"
	"github.com/gpumeter/gpumeter/agent/sim"
	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/agent/window"
	"github.com/gpumeter/gpumeter/internal/cloudprovider"
	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
	"github.com/gpumeter/gpumeter/internal/logging"
	"github.com/gpumeter/gpumeter/internal/telemetry"
	"github.com/gpumeter/gpumeter/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if code := flagenv.ExitCode("gpumeter-agent", err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

type options struct {
	node, providerName, region, zone, instanceType, account string
	detect                                                  bool
	imdsTimeout                                             time.Duration
	kafka                                                   kafkaconf.Flags
	conn                                                    kafkaconf.Conn // built from kafka at parse time
	topic, spoolDir, metricsAddr, otlpEndpoint              string
	webConfigFile                                           string
	spoolMaxBytes, spoolMinFreeBytes                        int64
	checkpointPeriod, flushTimeout                          time.Duration
	samplePeriod, interval, duration                        time.Duration
	simulate, simUtil, simStart, simTeams, simProcs, simMIG string
	simSpeed                                                float64
	podResourcesSocket, kubeconfig, teamLabel, procRoot     string
	attributionRefresh, attributionKeep                     time.Duration
	perProcess, dra                                         bool
	explicit                                                map[string]bool // flags set on the command line or environment
	log                                                     logging.Options
}

func parse(args []string, extra ...func(*flag.FlagSet)) (*options, error) {
	o := &options{}
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("gpumeter-agent", flag.ContinueOnError)
	fs.StringVar(&o.node, "node-name", host, "node name on every record (on Kubernetes: the downward API's spec.nodeName)")
	fs.StringVar(&o.providerName, "provider", "", "cloud provider: azure, aws, gcp, oracle_cloud, ibm_cloud, alibaba_cloud, tencent_cloud, coreweave, on_prem, or unlisted:NAME for one not in the list; detected when empty")
	fs.StringVar(&o.region, "region", "", "region; detected when empty")
	fs.StringVar(&o.zone, "zone", "", "availability zone; detected when empty")
	fs.StringVar(&o.instanceType, "instance-type", "", "instance type / VM size / shape; detected when empty")
	fs.StringVar(&o.account, "account", "", "subscription / account / tenancy / project; detected when empty")
	fs.BoolVar(&o.detect, "detect-provider", true, "probe the cloud instance metadata services for what the flags leave empty")
	fs.DurationVar(&o.imdsTimeout, "metadata-timeout", 2*time.Second, "timeout of each instance metadata probe")
	o.kafka.Register(fs)
	fs.StringVar(&o.spoolDir, "spool-dir", "/var/lib/gpumeter-agent", "directory for the spool and the checkpoint (must survive restarts: a hostPath on Kubernetes)")
	fs.Int64Var(&o.spoolMaxBytes, "spool-max-bytes", 1<<30, "disk the spool may use; when full the oldest records are dropped (and counted)")
	fs.Int64Var(&o.spoolMinFreeBytes, "spool-min-free-bytes", 32<<20, "free space the spool leaves on its file system: when the disk fills, the oldest records are dropped (and counted) and /readyz says so")
	fs.DurationVar(&o.checkpointPeriod, "checkpoint-period", 10*time.Second, "how often open windows are checkpointed; a kill -9 loses at most this much measurement")
	fs.DurationVar(&o.flushTimeout, "flush-timeout", 30*time.Second, "how long SIGTERM waits for Kafka to take the spooled records (the rest is sent at the next start)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9400", "listen address for /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&o.webConfigFile, "web-config-file", "", "exporter-toolkit web config (TLS, basic auth) for --metrics-addr, as node_exporter takes")
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "OTLP/gRPC endpoint (host:port) for traces; empty disables")
	fs.StringVar(&o.topic, "topic", "gpumeter.usage.v1", "Kafka topic for usage records")
	fs.DurationVar(&o.samplePeriod, "sample-period", time.Second, "how often GPUs are sampled")
	fs.DurationVar(&o.interval, "interval", time.Minute, "reporting interval: whole seconds dividing an hour (1s … 1h); records are cut at multiples of it since the epoch")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this much (simulated) time, after flushing everything; 0 runs until SIGTERM")
	fs.StringVar(&o.simulate, "simulate", "", "simulate a machine instead of reading NVML: "+strings.Join(sim.Machines(), ", "))
	fs.StringVar(&o.simUtil, "sim-util", "0.7", "simulated workload: 0.7, diurnal:low=0.2,high=0.9,peak=15h, bursty:base=0.1,burst=0.95,duty=0.3,period=2h, steps:0.9,0.5,0")
	fs.Float64Var(&o.simSpeed, "sim-speed", 1, "simulated seconds per real second; 0 runs as fast as possible")
	fs.StringVar(&o.simStart, "sim-start", "", "simulated start time, RFC 3339 (default: now, aligned down to --interval)")
	fs.StringVar(&o.simTeams, "sim-teams", "", "simulated pod assignment by GPU index, e.g. research:4,inference:2 (the rest idle); TEAM+TEAM:N shares each of N GPUs among the teams (MIG: instance k to team k; else time-sliced, split by --sim-procs); ignored with --pod-resources-socket")
	fs.StringVar(&o.simProcs, "sim-procs", "", "simulated processes on shared GPUs, GPU:PID=SHARE+PID=SHARE,..., e.g. 2:1001=0.75+1002=0.25 (their PIDs map to pods through --proc-root)")
	fs.StringVar(&o.simMIG, "sim-mig", "", "simulated MIG layout, GPU:PROFILE*COUNT+PROFILE,..., e.g. 0:1g.10gb*7,1:3g.40gb*2")
	fs.StringVar(&o.podResourcesSocket, "pod-resources-socket", attribution.DefaultPodResourcesSocket, "the kubelet's PodResources socket: which pod holds which GPU (empty: no attribution; with --simulate used only when set)")
	fs.DurationVar(&o.attributionRefresh, "attribution-refresh", 10*time.Second, "how often the kubelet's device assignment is listed (earlier when an unknown device appears)")
	fs.DurationVar(&o.attributionKeep, "attribution-keep", 5*time.Minute, "how long the last assignment holds while the kubelet does not answer; after it GPUs are metered unattributed")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for pod labels, namespaces, ResourceSlices and the node object (default: in-cluster config; with --simulate used only when set)")
	fs.StringVar(&o.teamLabel, "team-label", attribution.DefaultTeamLabel, "pod label naming the team; else the namespace's label of that name; else the namespace")
	fs.BoolVar(&o.perProcess, "per-process", true, "split a shared GPU's busy time by its processes' utilization (needs hostPID to map PIDs to pods)")
	fs.StringVar(&o.procRoot, "proc-root", "/proc", "the host's /proc, where /proc/<pid>/cgroup maps a GPU process to its pod")
	fs.BoolVar(&o.dra, "dra", true, "resolve DRA claims (driver gpu.nvidia.com) through the node's ResourceSlices (resource.k8s.io/v1, Kubernetes 1.34+)")
	o.log.Register(fs)
	for _, f := range extra {
		f(fs)
	}
	fs.Usage = flagenv.Usage(fs, "gpumeter-agent meters this node's GPUs and sends usage records to Kafka.\n"+
		"gpumeter-agent gpus [--format table|json] [flags] lists the node's GPUs and the pods they serve now.")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stdout); err != nil {
		return nil, err
	}
	o.explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
	var errs []error
	var err error
	if o.attributionRefresh <= 0 {
		errs = append(errs, fmt.Errorf("--attribution-refresh: must be positive, got %s", o.attributionRefresh))
	}
	if o.attributionKeep < 0 {
		errs = append(errs, fmt.Errorf("--attribution-keep: must not be negative, got %s", o.attributionKeep))
	}
	if o.teamLabel == "" {
		errs = append(errs, errors.New("--team-label: empty"))
	}
	if o.conn, err = o.kafka.Connect(); err != nil {
		errs = append(errs, err)
	}
	if o.providerName != "" {
		if o.providerName, err = cloudprovider.Check(o.providerName); err != nil {
			errs = append(errs, fmt.Errorf("--provider: %w", err))
		}
	}
	if o.spoolDir == "" {
		errs = append(errs, errors.New("--spool-dir: empty"))
	}
	if o.spoolMaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("--spool-max-bytes: %d is below 1 MiB", o.spoolMaxBytes))
	}
	if o.spoolMinFreeBytes < 0 {
		errs = append(errs, fmt.Errorf("--spool-min-free-bytes: must not be negative, got %d", o.spoolMinFreeBytes))
	}
	if o.flushTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--flush-timeout: must be positive, got %s", o.flushTimeout))
	}
	if o.topic == "" {
		errs = append(errs, errors.New("--topic: empty"))
	}
	if o.simSpeed < 0 {
		errs = append(errs, fmt.Errorf("--sim-speed: must not be negative, got %g", o.simSpeed))
	}
	if o.simulate == "" && (o.simStart != "" || o.simTeams != "" || o.simProcs != "" || o.simMIG != "") {
		errs = append(errs, errors.New("--sim-start, --sim-teams, --sim-procs and --sim-mig need --simulate"))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version") {
		fmt.Println(version.Line("gpumeter-agent"))
		return nil
	}
	if len(args) > 0 && args[0] == "gpus" {
		return gpus(ctx, args[1:], os.Stdout)
	}
	o, err := parse(args)
	if err != nil {
		return err
	}
	log, err := o.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	kube, err := kubeMeta(o, log)
	if err != nil {
		return err
	}
	meta, err := where(ctx, o, kube, log)
	if err != nil {
		return err
	}
	cfg := agent.Config{Meta: meta, SamplePeriod: o.samplePeriod, Interval: o.interval, Duration: o.duration,
		FlushTimeout: o.flushTimeout, CheckpointPeriod: o.checkpointPeriod, StateDir: o.spoolDir}
	if err := cfg.Validate(); err != nil {
		return err
	}

	m, err := openMachine(ctx, o, kube, log)
	if err != nil {
		return err
	}
	defer m.close()
	clk, src, attr, kubelet := m.clk, m.src, m.attr, m.kubelet
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	defer func() { stopBackground(); bg.Wait() }()
	m.start(ctx, bgCtx, &bg, log)

	// Another agent of this node (a rolling update) may still hold the state directory: wait for it, then resume
	// from the checkpoint and spool it leaves, so that the two never meter the same time.
	fwd := clock.NewForward(clk) // the agent's time: never backwards (see clock.Forward)
	minFree := o.spoolMinFreeBytes
	if minFree == 0 {
		minFree = 1 // the whole disk may be used; spool.Options reads 0 as its default
	}
	sp, err := spool.OpenWait(ctx, spool.Options{Dir: o.spoolDir, MaxBytes: o.spoolMaxBytes, MinFreeBytes: minFree,
		Log: log, Now: fwd.Now})
	if err != nil {
		return fmt.Errorf("--spool-dir: %w", err)
	}
	defer func() { _ = sp.Close() }()
	sender := send.NewKafka(send.KafkaConfig{Conn: o.conn, Topic: o.topic}, log)
	defer func() { _ = sender.Close() }()

	a := agent.New(cfg, fwd, src, attr, sp, sender, log)
	tel, err := telemetry.Start(ctx, telemetry.Config{Service: "gpumeter-agent", MetricsAddr: o.metricsAddr,
		OTLPEndpoint: o.otlpEndpoint, OTLPInsecure: true, WebConfigFile: o.webConfigFile, Attributes: resourceAttributes(meta)}, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	if err := a.RegisterMetrics(tel.Meter("gpumeter-agent")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if kubelet != nil {
		if err := kubelet.RegisterMetrics(tel.Meter("gpumeter-agent")); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	tel.AddReadiness("agent", a.Ready)
	return a.Run(ctx)
}

// resourceAttributes is where the agent runs, as OpenTelemetry resource attributes (target_info on /metrics).
func resourceAttributes(m window.Meta) map[string]string {
	return map[string]string{"cloud.provider": m.Provider, "cloud.region": m.Region,
		"cloud.availability_zone": m.Zone, "cloud.account.id": m.Account, "host.type": m.InstanceType,
		"k8s.node.name": m.Node}
}

// kubeMeta builds the API-server informers: on a real node from the in-cluster config (a node outside a cluster,
// or without the service account, meters on with the namespace as team), with --simulate only given --kubeconfig.
func kubeMeta(o *options, log *slog.Logger) (*attribution.Kube, error) {
	if o.kubeconfig == "" && (o.simulate != "" || o.podResourcesSocket == "") {
		return nil, nil
	}
	cfg, err := attribution.RESTConfig(o.kubeconfig)
	if err != nil {
		if o.kubeconfig != "" {
			return nil, err
		}
		log.Warn("no Kubernetes API access: pods are attributed without labels (team = namespace) and the node object is not read", "err", err)
		return nil, nil
	}
	klog.SetSlogLogger(log.With("component", "kubernetes"))
	k, err := attribution.NewKube(cfg, o.node, o.teamLabel, o.dra, log)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	return k, nil
}

// where combines the flags with what the node object and then the node's metadata service say; flags win, then the
// node object (spec.providerID and the topology labels), then instance metadata for what is still empty.
func where(ctx context.Context, o *options, kube *attribution.Kube, log *slog.Logger) (window.Meta, error) {
	flags := provider.Info{Provider: o.providerName, Region: o.region, Zone: o.zone, InstanceType: o.instanceType, Account: o.account}
	info := flags
	if kube != nil && (flags.Provider == "" || flags.Region == "" || flags.InstanceType == "") {
		if n, err := kube.Node(ctx, o.imdsTimeout); err != nil {
			log.Warn("node object not read; provider from flags and instance metadata only", "err", err)
		} else {
			fromNode, _ := provider.FromNode(n.Spec.ProviderID, n.Labels)
			info = fromNode.Merge(flags)
		}
	}
	flags = info
	if o.detect && o.simulate == "" && (flags.Provider == "" || flags.Region == "" || flags.InstanceType == "") {
		d := provider.Detector{Timeout: o.imdsTimeout}
		detected, err := d.Detect(ctx)
		if err != nil {
			log.Warn("cloud provider not detected; set --provider/--region/--instance-type", "err", err)
		}
		info = detected.Merge(flags)
	}
	info = provider.Normalize(info)
	log.Info("node identity", "node", o.node, "provider", info.Provider, "region", info.Region,
		"instance_type", info.InstanceType, "account", info.Account)
	return window.Meta{Node: o.node, Provider: info.Provider, Region: info.Region, Zone: info.Zone,
		InstanceType: info.InstanceType, Account: info.Account}, nil
}
