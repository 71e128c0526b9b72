package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// Indexes of the informer stores of serve's cache, so that the questions
// checks ask on every admission cost what their answer holds, not what the
// cluster holds. FromCache asks them; other readers answer the same
// questions by listing.
const (
	// IndexAPIRuleHost keys APIRules by each host in spec.hosts (v1beta1:
	// spec.host), lower case.
	IndexAPIRuleHost = "gatewarden.io/apirule-host"
	// IndexVirtualServiceHost keys VirtualServices by each spec.hosts
	// entry, lower case.
	IndexVirtualServiceHost = "gatewarden.io/virtualservice-host"
	// IndexAPIRuleServiceNamespace keys APIRules by each namespace their
	// rules' Services may live in: the APIRule's own, spec.service's and
	// each rules[].service's. A superset: readers resolve the exact
	// namespace per rule.
	IndexAPIRuleServiceNamespace = "gatewarden.io/apirule-service-namespace"
	// IndexPodLabel keys pods by each of their labels as key=value.
	IndexPodLabel = "gatewarden.io/pod-label"
)

// Index is one index of an informer's store: Extract gives the keys an
// object is found under.
type Index struct {
	Object  client.Object
	Name    string
	Extract func(client.Object) []string
}

// Indexes are the indexes the State from FromCache reads.
func Indexes() []Index {
	return []Index{
		{Object: apiRuleObject(), Name: IndexAPIRuleHost, Extract: apiRuleHostKeys},
		{Object: apiRuleObject(), Name: IndexAPIRuleServiceNamespace, Extract: apiRuleServiceNamespaceKeys},
		{Object: &networkingv1.VirtualService{}, Name: IndexVirtualServiceHost, Extract: func(o client.Object) []string {
			vs, ok := o.(*networkingv1.VirtualService)
			if !ok {
				return nil
			}
			return lowerUnique(vs.Spec.Hosts)
		}},
		{Object: podObject(), Name: IndexPodLabel, Extract: func(o client.Object) []string {
			out := make([]string, 0, len(o.GetLabels()))
			for k, v := range o.GetLabels() {
				out = append(out, k+"="+v)
			}
			return out
		}},
	}
}

// AddIndexes adds indexes to the informers of a cache that has not started.
// A kind the cluster does not serve is skipped: its reads find nothing,
// and should its CRD appear later, its lookups list instead.
func AddIndexes(ctx context.Context, c Informers, indexes ...Index) (skipped []string, err error) {
	for _, ix := range indexes {
		inf, err := c.GetInformer(ctx, ix.Object, cache.BlockUntilSynced(false))
		if err != nil {
			if meta.IsNoMatchError(err) || isNoKind(err) {
				skipped = append(skipped, ix.Name)
				continue
			}
			return skipped, fmt.Errorf("index %s: %w", ix.Name, err)
		}
		extract := ix.Extract
		if err := inf.AddIndexers(toolscache.Indexers{ix.Name: func(o any) ([]string, error) {
			co, ok := o.(client.Object)
			if !ok {
				return nil, nil
			}
			return extract(co), nil
		}}); err != nil {
			return skipped, fmt.Errorf("index %s: %w", ix.Name, err)
		}
	}
	return skipped, nil
}

// apiRuleHostKeys are the index keys of a stored APIRule, read as v2 (the
// API server serves every version under v2; a v1beta1 object keeps its
// spec.host without Kyma's conversion webhook).
func apiRuleHostKeys(o client.Object) []string {
	return lowerUnique(apirule.HostsOf(o))
}

// NamespaceOrDefault is the namespace of an object as admitted: an object
// decoded from a file may have none, which the API server makes "default".
func NamespaceOrDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

func lowerUnique(in []string) []string {
	out := make([]string, 0, len(in))
	for _, h := range in {
		h = strings.ToLower(h)
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func apiRuleObject() client.Object {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(apirule.V2)
	return u
}

func podObject() client.Object {
	p := &metav1.PartialObjectMetadata{}
	p.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	return p
}

// LastAppliedAnnotation is where `kubectl apply` keeps a copy of the whole
// object it applied.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimMetadata drops from a cached object what no check reads and what
// costs the most memory per object: managedFields (a second tree the size
// of the spec) and kubectl's last-applied annotation (a copy of the whole
// object as JSON; of a Secret, its data once more).
func TrimMetadata(obj any) (any, error) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return d, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // not an object: leave it to the informer
	}
	m.SetManagedFields(nil)
	if ann := m.GetAnnotations(); ann != nil {
		if _, had := ann[LastAppliedAnnotation]; had {
			delete(ann, LastAppliedAnnotation)
			if len(ann) == 0 {
				ann = nil
			}
			m.SetAnnotations(ann)
		}
	}
	return obj, nil
}

// trimAPIRule keeps an APIRule as apirule.Stored: its trimmed metadata and
// its spec as JSON, without the status Kyma's controller writes (the checks
// and the audit read spec and metadata only). Readers of the cache's APIRules
// (State, the audit) read Stored; an unstructured read of them through the
// cache's client.Reader fails, so none is made.
func trimAPIRule(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return TrimMetadata(obj)
	}
	if _, err := TrimMetadata(u); err != nil {
		return nil, err
	}
	st, err := apirule.Store(u)
	if err != nil {
		// Not an object the API server would serve; keep it as it came
		// rather than lose it (readers take both forms).
		return u, nil
	}
	return st, nil
}

// trimVirtualService keeps what the host checks read: hosts, gateways and
// the owner labels. Kyma writes one VirtualService per APIRule, with its
// routes, headers and CORS policy; a check that reads more of it must keep
// more here.
func trimVirtualService(obj any) (any, error) {
	vs, ok := obj.(*networkingv1.VirtualService)
	if !ok {
		return TrimMetadata(obj)
	}
	out := &networkingv1.VirtualService{TypeMeta: vs.TypeMeta, ObjectMeta: vs.ObjectMeta}
	out.Spec.Hosts, out.Spec.Gateways = vs.Spec.Hosts, vs.Spec.Gateways
	return TrimMetadata(out)
}

// PodAnnotations are the pod annotations checks read: whether the sidecar
// injector ran, and a pod's opt-out. Every other annotation (checksums,
// tooling, the rest of the injector's bookkeeping) is the bulk of a pod's
// metadata and is dropped from the cache.
var PodAnnotations = []string{"sidecar.istio.io/status", "sidecar.istio.io/inject"}

// trimPod keeps a pod's identity, labels and the annotations in
// PodAnnotations: pods are read to find where a selector's workloads run and
// whether they have a sidecar.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return TrimMetadata(obj)
	}
	var ann map[string]string
	for _, k := range PodAnnotations {
		if v, has := p.Annotations[k]; has {
			if ann == nil {
				ann = map[string]string{}
			}
			ann[k] = v
		}
	}
	p.ObjectMeta = metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID,
		ResourceVersion: p.ResourceVersion, Labels: p.Labels, Annotations: ann}
	return p, nil
}

// CacheScope narrows what serve's cache reads: Secrets only in the gateway
// namespaces, the mesh ConfigMap only. Nil fields read everywhere.
type CacheScope struct {
	Secrets    map[string]cache.Config
	ConfigMaps map[string]cache.Config
}

// CacheOptions are the options of serve's cache: what each kind keeps (the
// transforms above) and where it is read from. Reads through FromCache skip
// the cache's deep copies (the State's callers only read), so the cache
// need not turn them off; APIRules also skip them for every other reader,
// since each stored one costs a copy of its whole object tree.
func CacheOptions(scope CacheScope) cache.Options {
	return cache.Options{
		DefaultTransform: TrimMetadata,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:               {Namespaces: scope.Secrets, Transform: TrimMetadata},
			&corev1.ConfigMap{}:            {Namespaces: scope.ConfigMaps, Transform: TrimMetadata},
			apiRuleObject():                {UnsafeDisableDeepCopy: ptr.To(true), Transform: trimAPIRule},
			&networkingv1.VirtualService{}: {Transform: trimVirtualService},
			podObject():                    {Transform: trimPod},
		},
	}
}
