package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/gatewarden/gatewarden/internal/exception"
)

// Informers is what FromCache reads through: the manager's cache.
type Informers interface {
	client.Reader
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// FromCache backs State with serve's cache, built with CacheOptions and
// AddIndexes. It reads each kind's informer store directly: a Get is one
// map lookup, Lookups and label selections are index lookups, and objects
// are shared, not copied (State's callers only read what they get). Going
// through the cache's client.Reader instead cost a scheme lookup, option
// parsing, reflection and a copy per read, several per admission; that path
// remains for kinds whose store is not at hand (not installed, not synced
// yet, or read in chosen namespaces only, like Secrets).
func FromCache(c Informers) State {
	s := FromReader(GateAbsentKinds(c, Scheme, AbsentKindTTL)).(*reader)
	s.indexed, s.shared = true, true
	s.stores = &stores{informers: c, byKind: map[string]*store{}}
	return s
}

// stores finds and keeps the informer stores of the kinds the State reads.
type stores struct {
	informers Informers
	mu        sync.Mutex
	byKind    map[string]*store
}

type store struct {
	idx    toolscache.Indexer
	synced func() bool
	// retry is when to ask for the informer again after it could not be
	// had (the kind is not served: absent): asking starts discovery.
	retry  time.Time
	absent bool
}

// Exemplars of the kinds the State reads from stores, by a name of ours.
var storeKinds = map[string]func() client.Object{
	"Gateway":               func() client.Object { return &networkingv1.Gateway{} },
	"VirtualService":        func() client.Object { return &networkingv1.VirtualService{} },
	"RequestAuthentication": func() client.Object { return &securityv1.RequestAuthentication{} },
	"Service":               func() client.Object { return &corev1.Service{} },
	"Namespace":             func() client.Object { return &corev1.Namespace{} },
	"Pod":                   podObject,
	"APIRule":               apiRuleObject,
	"Certificate":           func() client.Object { return &certmanagerv1.Certificate{} },
	"GatewardenException":   func() client.Object { return &exception.GatewardenException{} },
	"GardenerCertificate": func() client.Object {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(GardenerCertificate)
		return u
	},
}

// get returns the synced store of a kind, nil when there is none to read
// (the caller then goes through the cache's reader).
func (s *stores) get(ctx context.Context, kind string) toolscache.Indexer {
	newObj, ok := storeKinds[kind]
	if s == nil || !ok {
		return nil
	}
	idx, _ := s.lookup(ctx, kind, newObj)
	return idx
}

// lookup finds the synced store of the kind newObj makes, under key;
// absent is set when the cluster does not serve the kind.
func (s *stores) lookup(ctx context.Context, key string, newObj func() client.Object) (idx toolscache.Indexer, absent bool) {
	s.mu.Lock()
	st := s.byKind[key]
	s.mu.Unlock()
	if st != nil && st.idx != nil {
		if st.synced() || (transformedKinds[key] && waitSynced(ctx, st.synced)) {
			return st.idx, false
		}
		return nil, false
	}
	if st != nil && time.Now().Before(st.retry) {
		return nil, st.absent
	}
	if s.informers == nil {
		// No informers (FromObjects): only the stores given are read.
		return nil, false
	}
	st = &store{}
	inf, err := s.informers.GetInformer(ctx, newObj(), cache.BlockUntilSynced(false))
	switch {
	case err != nil:
		st.retry, st.absent = time.Now().Add(AbsentKindTTL), meta.IsNoMatchError(err) || isNoKind(err)
	default:
		if si, ok := inf.(toolscache.SharedIndexInformer); ok {
			st.idx, st.synced = si.GetIndexer(), si.HasSynced
		} else {
			// Namespace-scoped caches give no single store: read through
			// the cache's reader for good.
			st.retry = time.Now().Add(100 * 365 * 24 * time.Hour)
		}
	}
	s.mu.Lock()
	s.byKind[key] = st
	s.mu.Unlock()
	if st.idx != nil && (st.synced() || (transformedKinds[key] && waitSynced(ctx, st.synced))) {
		return st.idx, false
	}
	return nil, st.absent
}

// transformedKinds are kinds whose store holds another type than the
// cache's client.Reader gives (CacheOptions' transforms): until their store
// has synced, reads wait for it rather than go through that reader.
var transformedKinds = map[string]bool{"APIRule": true}

// waitSynced waits until synced says so or ctx ends.
func waitSynced(ctx context.Context, synced func() bool) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !synced() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// Stores reads objects of any kind from its informer's store by an index:
// the audit's questions of what a change concerns.
type Stores struct{ s *stores }

// NewStores reads the stores of c's informers.
func NewStores(c Informers) *Stores {
	return &Stores{&stores{informers: c, byKind: map[string]*store{}}}
}

// ErrNoStore says a store cannot answer now: the informer has not synced,
// or the kind is read through namespace-scoped informers.
var ErrNoStore = errors.New("no synced informer store for the kind")

// ByIndex lists the objects of exemplar's kind under key in index (an
// index added with AddIndexes, or toolscache.NamespaceIndex). A kind the
// cluster does not serve has none.
func (s *Stores) ByIndex(ctx context.Context, exemplar client.Object, index, key string) ([]client.Object, error) {
	gvk, err := apiutil.GVKForObject(exemplar, Scheme)
	if err != nil {
		return nil, err
	}
	idx, absent := s.s.lookup(ctx, gvk.String(), func() client.Object { return exemplar.DeepCopyObject().(client.Object) })
	if absent {
		return nil, nil
	}
	if idx == nil {
		return nil, ErrNoStore
	}
	var objs []any
	if index == toolscache.NamespaceIndex && key == "" {
		objs = idx.List()
	} else if objs, err = idx.ByIndex(index, key); err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		if co, ok := o.(client.Object); ok {
			out = append(out, co)
		}
	}
	return out, nil
}

// storeGet reads one object of a kind from its store: (obj, true) when the
// store answered (obj nil when there is no such object), false when the
// caller must read through the cache's reader.
func storeGet[T any](ctx context.Context, s *stores, kind, namespace, name string) (T, bool) {
	var zero T
	idx := s.get(ctx, kind)
	if idx == nil {
		return zero, false
	}
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	o, exists, err := idx.GetByKey(key)
	if err != nil {
		return zero, false
	}
	if !exists {
		return zero, true
	}
	t, ok := o.(T)
	return t, ok
}

// storeList reads the objects of a kind in a namespace ("" for all), or
// under one key of one of its indexes when index is set.
func storeList[T any](ctx context.Context, s *stores, kind, index, key, namespace string) ([]T, bool) {
	idx := s.get(ctx, kind)
	if idx == nil {
		return nil, false
	}
	var objs []any
	var err error
	switch {
	case index != "":
		objs, err = idx.ByIndex(index, key)
	case namespace != "":
		objs, err = idx.ByIndex(toolscache.NamespaceIndex, namespace)
	default:
		objs = idx.List()
	}
	if err != nil {
		return nil, false
	}
	if index == "" {
		namespace = "" // the namespace index answered already
	}
	return sortedObjects[T](objs, namespace)
}

// sortedObjects are a store's objs as T, those in namespace only when it is
// set, by namespace and name; false when one is not a T.
func sortedObjects[T any](objs []any, namespace string) ([]T, bool) {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		t, ok := o.(T)
		if !ok {
			return nil, false
		}
		if namespace != "" {
			if m, err := meta.Accessor(o); err != nil || m.GetNamespace() != namespace {
				continue
			}
		}
		out = append(out, t)
	}
	// A store's List is in map order; checks' findings, and check's
	// output, must not depend on it. Keys are read once per object: an
	// unstructured object's namespace is two map lookups away.
	type keyed struct {
		ns, name string
		o        T
	}
	ks := make([]keyed, len(out))
	for i, o := range out {
		ks[i].o = o
		if m, err := meta.Accessor(o); err == nil {
			ks[i].ns, ks[i].name = m.GetNamespace(), m.GetName()
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for i := range ks {
		out[i] = ks[i].o
	}
	return out, true
}

// StoredReader hands out the objects of the kinds whose stores hold their
// own form (apirule.Stored for APIRules) as the stores hold them: the
// cache's client.Reader cannot give those. ok is false when it does not
// answer for the kind; read through client.Reader then.
type StoredReader interface {
	StoredObjects(ctx context.Context, exemplar client.Object, namespace string) (objs []client.Object, ok bool)
	StoredObject(ctx context.Context, exemplar client.Object, namespace, name string) (obj client.Object, ok bool)
}

// StoreReader is a client.Reader (r, over serve's cache c) that is also a
// StoredReader: the audit reads through it.
type StoreReader struct {
	client.Reader
	stores *stores
}

// NewStoreReader reads through r, and the transformed kinds from c's stores.
func NewStoreReader(r client.Reader, c Informers) *StoreReader {
	return &StoreReader{Reader: r, stores: &stores{informers: c, byKind: map[string]*store{}}}
}

// storeKind is the name storeKinds knows exemplar's kind by, for a kind
// whose store holds its own form; "" otherwise.
func storeKind(exemplar client.Object) string {
	gvk, err := apiutil.GVKForObject(exemplar, Scheme)
	if err != nil {
		return ""
	}
	if gvk.GroupKind() == apiRuleObject().GetObjectKind().GroupVersionKind().GroupKind() {
		return "APIRule"
	}
	return ""
}

func (r *StoreReader) StoredObjects(ctx context.Context, exemplar client.Object, namespace string) ([]client.Object, bool) {
	kind := storeKind(exemplar)
	if kind == "" {
		return nil, false
	}
	return storeList[client.Object](ctx, r.stores, kind, "", "", namespace)
}

func (r *StoreReader) StoredObject(ctx context.Context, exemplar client.Object, namespace, name string) (client.Object, bool) {
	kind := storeKind(exemplar)
	if kind == "" {
		return nil, false
	}
	return storeGet[client.Object](ctx, r.stores, kind, namespace, name)
}
