package attribution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/gpumeter/gpumeter/internal/telemetry"
)

// DefaultPodResourcesSocket is where the kubelet serves the PodResources API.
const DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// MaxPodResourcesMessage is the receive limit for a List answer: gRPC's default of 4 MiB is too small for a busy node
// (hundreds of pods, each listing its CPUs, memory and devices).
const MaxPodResourcesMessage = 64 << 20

// DRADriver is the NVIDIA DRA driver's name; claims of other drivers are not GPUs.
const DRADriver = "gpu.nvidia.com"

// Holder is one pod's hold on a device (a whole GPU or a MIG instance), as the kubelet reports it.
type Holder struct {
	Namespace, Pod string
	// Replicas is how many of the device's IDs the pod holds: time-slicing and MPS hand out replicas `<id>::<n>`,
	// and a pod holding two replicas of a shared GPU has twice the share of one holding one.
	Replicas int
}

// DeviceResolver maps a DRA device (pool and device name, as in a ResourceSlice of driver gpu.nvidia.com) to the
// UUID of the GPU or MIG instance it is.
type DeviceResolver interface {
	DeviceUUID(pool, device string) (string, bool)
}

// KubeletConfig configures the PodResources client.
type KubeletConfig struct {
	Socket string
	// Refresh is the period of List calls (--attribution-refresh); a device the cache does not know triggers one
	// earlier, at most once per EarlyMin.
	Refresh time.Duration
	// KeepFor is how long the last known assignment still holds while the kubelet does not answer
	// (--attribution-keep); after it, GPUs are unattributed until the kubelet answers again.
	KeepFor time.Duration
	// CallTimeout bounds one List call; 0 means 5 s.
	CallTimeout time.Duration
	// EarlyMin is the least time between two early refreshes; 0 means 1 s.
	EarlyMin time.Duration
	// Devices resolves DRA claim devices; nil leaves DRA claims unresolved.
	Devices DeviceResolver
	// Now is the wall clock (staleness is about the kubelet, not the metered time); nil means time.Now.
	Now func() time.Time
}

// Kubelet keeps the kubelet's device assignments: one long-lived gRPC connection, List called every Refresh (and
// early on an unknown device) by Run, never per sample. Lookups read the cache and never block on the kubelet.
type Kubelet struct {
	cfg    KubeletConfig
	conn   *grpc.ClientConn
	client podresourcesv1.PodResourcesListerClient
	log    *slog.Logger
	early  chan struct{}

	mu       sync.Mutex
	holders  map[string][]Holder // by GPU or MIG UUID
	lastOK   time.Time           // zero until the first List answered
	lastTry  time.Time
	down     bool
	seen     map[string]bool // UUIDs looked up at least once (an unknown one triggers one early refresh)
	lastEarl time.Time

	lists, listErrors, staleLookups atomic.Int64
}

// NewKubelet connects (lazily: the kubelet may not be up yet) to the PodResources socket.
func NewKubelet(cfg KubeletConfig, log *slog.Logger) (*Kubelet, error) {
	if cfg.Socket == "" {
		return nil, errors.New("pod-resources socket: empty path")
	}
	if cfg.Refresh <= 0 {
		return nil, fmt.Errorf("attribution refresh: must be positive, got %s", cfg.Refresh)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.EarlyMin <= 0 {
		cfg.EarlyMin = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	abs, err := filepath.Abs(cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("pod-resources socket %s: %w", cfg.Socket, err)
	}
	bo := backoff.DefaultConfig
	bo.MaxDelay = min(cfg.Refresh, 10*time.Second) // a kubelet that restarts is found again within a refresh or two
	conn, err := grpc.NewClient("unix://"+abs,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: cfg.CallTimeout}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxPodResourcesMessage)))
	if err != nil {
		return nil, fmt.Errorf("pod-resources socket %s: %w", abs, err)
	}
	return &Kubelet{cfg: cfg, conn: conn, client: podresourcesv1.NewPodResourcesListerClient(conn),
		log: log.With("component", "attribution"), early: make(chan struct{}, 1),
		holders: map[string][]Holder{}, seen: map[string]bool{}}, nil
}

// Close closes the connection.
func (k *Kubelet) Close() error { return k.conn.Close() }

// Run lists at once, then every Refresh and when a lookup asks for an early refresh, until ctx is done.
func (k *Kubelet) Run(ctx context.Context) {
	t := time.NewTicker(k.cfg.Refresh)
	defer t.Stop()
	for {
		_ = k.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.early:
		}
	}
}

// Refresh calls List once and replaces the cache with its answer. On failure the cache is kept (Holders decides
// whether it is still fresh enough to use).
func (k *Kubelet) Refresh(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, k.cfg.CallTimeout)
	defer cancel()
	k.lists.Add(1)
	resp, err := k.client.List(cctx, &podresourcesv1.ListPodResourcesRequest{})
	now := k.cfg.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lastTry = now
	if err != nil {
		k.listErrors.Add(1)
		if !k.down {
			k.down = true
			k.log.Warn("kubelet pod-resources not answering; keeping the last assignment for a while",
				"socket", k.cfg.Socket, "keep_for", k.cfg.KeepFor, "err", err)
		}
		return fmt.Errorf("pod-resources list: %w", err)
	}
	if k.down {
		k.down = false
		k.log.Info("kubelet pod-resources answering again", "socket", k.cfg.Socket)
	}
	k.holders = Assignments(resp, k.cfg.Devices)
	k.lastOK = now
	return nil
}

// Holders returns the pods holding the device with this UUID, sorted by namespace and pod; nil when none does, or
// when the kubelet has not answered for longer than KeepFor. It never blocks on the kubelet.
func (k *Kubelet) Holders(uuid string) []Holder {
	now := k.cfg.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lastOK.IsZero() || now.Sub(k.lastOK) > k.cfg.KeepFor {
		k.staleLookups.Add(1)
		return nil
	}
	h, ok := k.holders[uuid]
	if !ok && !k.seen[uuid] && now.Sub(k.lastEarl) >= k.cfg.EarlyMin {
		// A device the last List did not mention: perhaps a pod that just started. Ask again soon, once per device
		// (an unassigned GPU stays unknown, and must not make every sample call the kubelet).
		k.lastEarl = now
		select {
		case k.early <- struct{}{}:
		default:
		}
	}
	k.seen[uuid] = true
	return h
}

// KubeletStats are the client's running totals.
type KubeletStats struct {
	Lists, ListErrors int64
	// StaleLookups counts lookups answered "unattributed" because the kubelet had not answered for longer than
	// KeepFor (or never had).
	StaleLookups int64
}

// Stats returns the running totals.
func (k *Kubelet) Stats() KubeletStats {
	return KubeletStats{Lists: k.lists.Load(), ListErrors: k.listErrors.Load(), StaleLookups: k.staleLookups.Load()}
}

// Assignments turns a List answer into the holders of each device UUID. Device-plugin IDs are `GPU-<uuid>`,
// `MIG-<uuid>` and replicas `<id>::<n>`; DRA claim devices of driver gpu.nvidia.com are resolved through res.
// Several containers of one pod count as one holder; IDs that are not NVIDIA GPUs are ignored.
func Assignments(resp *podresourcesv1.ListPodResourcesResponse, res DeviceResolver) map[string][]Holder {
	type key struct{ uuid, ns, pod string }
	count := map[key]int{}
	for _, p := range resp.GetPodResources() {
		for _, c := range p.GetContainers() {
			for _, d := range c.GetDevices() {
				for _, id := range d.GetDeviceIds() {
					if uuid, ok := DeviceUUID(id); ok {
						count[key{uuid, p.GetNamespace(), p.GetName()}]++
					}
				}
			}
			for _, dr := range c.GetDynamicResources() {
				for _, cr := range dr.GetClaimResources() {
					if cr.GetDriverName() != DRADriver || res == nil {
						continue
					}
					if uuid, ok := res.DeviceUUID(cr.GetPoolName(), cr.GetDeviceName()); ok {
						count[key{uuid, p.GetNamespace(), p.GetName()}]++
					}
				}
			}
		}
	}
	out := map[string][]Holder{}
	for k, n := range count {
		out[k.uuid] = append(out[k.uuid], Holder{Namespace: k.ns, Pod: k.pod, Replicas: n})
	}
	for _, hs := range out {
		sort.Slice(hs, func(i, j int) bool {
			if hs[i].Namespace != hs[j].Namespace {
				return hs[i].Namespace < hs[j].Namespace
			}
			return hs[i].Pod < hs[j].Pod
		})
	}
	return out
}

// DeviceUUID reads a device plugin's device ID: `GPU-<uuid>` and `MIG-<uuid>` are UUIDs as NVML reports them,
// `<id>::<n>` is replica n of id (time-slicing, MPS). Other IDs (other vendors, the legacy
// `MIG-GPU-<uuid>/<gi>/<ci>` form) are not understood.
func DeviceUUID(id string) (string, bool) {
	if base, _, ok := strings.Cut(id, "::"); ok {
		id = base
	}
	if strings.HasPrefix(id, "MIG-GPU-") || strings.Contains(id, "/") {
		return "", false
	}
	if strings.HasPrefix(id, "GPU-") || strings.HasPrefix(id, "MIG-") {
		return id, true
	}
	return "", false
}

// RegisterMetrics exports the client's figures through m (gpumeter_agent_attribution_*).
func (k *Kubelet) RegisterMetrics(m metric.Meter) error {
	return errors.Join(
		telemetry.Counter(m, "gpumeter.agent.attribution.lists", "{call}", "PodResources List calls to the kubelet", k.lists.Load),
		telemetry.Counter(m, "gpumeter.agent.attribution.list.errors", "{error}", "PodResources List calls that failed (the last assignment is kept for --attribution-keep)", k.listErrors.Load),
		telemetry.Counter(m, "gpumeter.agent.attribution.unattributed", "{sample}",
			"GPU samples metered unattributed because the kubelet had not answered for longer than --attribution-keep", k.staleLookups.Load),
	)
}
