package attribution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultTeamLabel is the pod (or namespace) label that names a pod's team.
const DefaultTeamLabel = "team"

// PodMeta is what the API server says about a pod: its UID (to tell a recreated pod of the same name apart) and its
// team.
type PodMeta struct {
	UID  string
	Team string
}

// Team applies the team rule: the pod's label teamLabel, else its namespace's label of that name, else the
// namespace's name.
func Team(teamLabel string, podLabels, namespaceLabels map[string]string, namespace string) string {
	if t := podLabels[teamLabel]; t != "" {
		return t
	}
	if t := namespaceLabels[teamLabel]; t != "" {
		return t
	}
	return namespace
}

// RESTConfig is the in-cluster configuration, or the kubeconfig file's when kubeconfig is set.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster Kubernetes config (set --kubeconfig outside a pod): %w", err)
	}
	return cfg, nil
}

// Kube watches, through informers, the pods of one node (field selector spec.nodeName), the namespaces and the
// node's ResourceSlices. It is what the agent's RBAC role grants: get/list/watch pods and namespaces, get the node,
// list/watch resourceslices.
type Kube struct {
	node      string
	teamLabel string
	core      *rest.RESTClient
	pods      cache.SharedIndexInformer
	nss       cache.SharedIndexInformer
	slices    cache.SharedIndexInformer // nil when DRA is off
	log       *slog.Logger
}

// NewKube builds the informers; Run starts them. dra turns the ResourceSlice informer on (resource.k8s.io/v1,
// Kubernetes 1.34 and later).
func NewKube(cfg *rest.Config, node, teamLabel string, dra bool, log *slog.Logger) (*Kube, error) {
	if node == "" {
		return nil, errors.New("kubernetes metadata: empty node name")
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "gpumeter-agent"
	core, err := restClient(cfg, "/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	onNode := fields.OneTermEqualSelector("spec.nodeName", node)
	k := &Kube{node: node, teamLabel: teamLabel, core: core, log: log.With("component", "attribution")}
	k.pods = cache.NewSharedIndexInformer(
		cache.NewListWatchFromClient(core, "pods", metav1.NamespaceAll, onNode),
		&corev1.Pod{}, 0, cache.Indexers{})
	k.nss = cache.NewSharedIndexInformer(
		cache.NewListWatchFromClient(core, "namespaces", metav1.NamespaceAll, fields.Everything()),
		&corev1.Namespace{}, 0, cache.Indexers{})
	if dra {
		rc, err := restClient(cfg, "/apis", resourcev1.SchemeGroupVersion)
		if err != nil {
			return nil, err
		}
		k.slices = cache.NewSharedIndexInformer(
			cache.NewListWatchFromClient(rc, "resourceslices", metav1.NamespaceAll,
				fields.AndSelectors(onNode, fields.OneTermEqualSelector("spec.driver", DRADriver))),
			&resourcev1.ResourceSlice{}, 0, cache.Indexers{})
	}
	return k, nil
}

// Run runs the informers until ctx is done.
func (k *Kube) Run(ctx context.Context) {
	infs := []cache.SharedIndexInformer{k.pods, k.nss}
	if k.slices != nil {
		infs = append(infs, k.slices)
	}
	done := make(chan struct{}, len(infs))
	for _, inf := range infs {
		go func() { inf.Run(ctx.Done()); done <- struct{}{} }()
	}
	for range infs {
		<-done
	}
}

// WaitSynced waits until every informer has listed once, or ctx is done; false in the latter case.
func (k *Kube) WaitSynced(ctx context.Context) bool {
	synced := []cache.InformerSynced{k.pods.HasSynced, k.nss.HasSynced}
	if k.slices != nil {
		synced = append(synced, k.slices.HasSynced)
	}
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// Pod returns the pod's UID and team; false when the informer does not know the pod (yet).
func (k *Kube) Pod(namespace, name string) (PodMeta, bool) {
	obj, ok, err := k.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return PodMeta{}, false
	}
	p := obj.(*corev1.Pod)
	var nsLabels map[string]string
	if nobj, ok, err := k.nss.GetStore().GetByKey(namespace); err == nil && ok {
		nsLabels = nobj.(*corev1.Namespace).Labels
	}
	return PodMeta{UID: string(p.UID), Team: Team(k.teamLabel, p.Labels, nsLabels, namespace)}, true
}

// DeviceUUID resolves a DRA device of driver gpu.nvidia.com through the node's ResourceSlices: the device's
// attribute uuid (a GPU's or a MIG instance's UUID).
func (k *Kube) DeviceUUID(pool, device string) (string, bool) {
	if k.slices == nil {
		return "", false
	}
	for _, obj := range k.slices.GetStore().List() {
		s := obj.(*resourcev1.ResourceSlice)
		if s.Spec.Driver != DRADriver || s.Spec.Pool.Name != pool {
			continue
		}
		for _, d := range s.Spec.Devices {
			if d.Name != device {
				continue
			}
			for _, key := range []resourcev1.QualifiedName{"uuid", DRADriver + "/uuid"} {
				if a, ok := d.Attributes[key]; ok && a.StringValue != nil && *a.StringValue != "" {
					return *a.StringValue, true
				}
			}
		}
	}
	return "", false
}

// Node fetches this node's object (for provider.FromNode: spec.providerID and the topology labels).
func (k *Kube) Node(ctx context.Context, timeout time.Duration) (*corev1.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := &corev1.Node{}
	if err := k.core.Get().Resource("nodes").Name(k.node).Do(ctx).Into(n); err != nil {
		return nil, fmt.Errorf("get node %s: %w", k.node, err)
	}
	return n, nil
}

// scheme knows only the kinds the agent reads (core/v1 and resource.k8s.io/v1), so that the agent does not compile in
// every Kubernetes API group as client-go's typed clientsets would.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := resourcev1.AddToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}()

func restClient(cfg *rest.Config, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	c.ContentType = runtime.ContentTypeJSON
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes %s client: %w", gv, err)
	}
	return rc, nil
}
