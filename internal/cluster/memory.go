package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// FromObjects is a State over a fixed set of objects: what `gatewarden check`
// reads from files, and what unit tests set up. Objects must be of a type the
// Scheme knows (typed, or unstructured with a GVK); others are ignored. Two
// objects with one identity (group, kind, namespace, name, whatever their
// versions) are an error.
func FromObjects(objs ...runtime.Object) (State, error) {
	m, err := newMemory(Scheme, objs)
	if err != nil {
		return nil, err
	}
	r := FromReader(m).(*reader)
	r.stores = m.stores()
	// The objects are all held here already: a memo that holds every
	// APIRule costs little more, where a bounded one would decode them
	// again and again while checking each of many.
	if ki := m.kinds[apirule.V2]; ki != nil {
		n := 0
		for _, l := range ki.byNS {
			n += len(l)
		}
		if n > decodedAPIRules {
			if r.decoded, err = lru.New[decodedKey, *apirule.APIRule](n); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// stores indexes the objects that host lookups ask for as serve's informer
// stores do (Indexes), so that checking n objects from files costs n
// lookups, not n lists of every APIRule and VirtualService. Other kinds are
// read by listing the maps.
func (m *memory) stores() *stores {
	kinds := map[string]schema.GroupVersionKind{
		"APIRule":        apirule.V2,
		"VirtualService": networkingv1.SchemeGroupVersion.WithKind("VirtualService"),
	}
	indexers := map[string]toolscache.Indexers{}
	for _, ix := range Indexes() {
		gvk, err := apiutil.GVKForObject(ix.Object, m.scheme)
		kind := gvk.Kind
		if _, ok := kinds[kind]; err != nil || !ok {
			continue
		}
		if indexers[kind] == nil {
			indexers[kind] = toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc}
		}
		extract := ix.Extract
		indexers[kind][ix.Name] = func(obj any) ([]string, error) {
			if o, ok := obj.(client.Object); ok {
				return extract(o), nil
			}
			return nil, nil
		}
	}
	s := &stores{byKind: map[string]*store{}}
	for kind, ixs := range indexers {
		idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, ixs)
		if ki := m.kinds[kinds[kind]]; ki != nil {
			for _, ns := range ki.namespaces {
				for _, o := range ki.byNS[ns] {
					// Keys are namespace/name, unique here.
					_ = idx.Add(o)
				}
			}
		}
		s.byKind[kind] = &store{idx: idx, synced: func() bool { return true }}
	}
	return s
}

// hubVersions is the version each group is read in. The API server serves
// every stored object in every version of its kind; keeping one copy under
// the version State reads lets a file's Gateway v1beta1 or APIRule v1beta1
// be found as a cluster's would.
var hubVersions = map[string]string{
	"networking.istio.io": "v1",
	"security.istio.io":   "v1",
	apirule.V2.Group:      apirule.V2.Version,
}

// memory is a read-only client.Reader over objects held in maps, indexed by
// GVK and namespace so that a List costs what it returns (and, with a label
// selector, what the namespace holds of the kind). Typed objects are deep
// copied on the way out, as the cache in serve does; unstructured ones
// (APIRules, Gardener Certificates, Kyma Istio CRs) are handed out shared,
// as serve's cache does for APIRules: the State over it only reads and
// decodes them, and the reader is not handed to anyone else.
type memory struct {
	scheme *runtime.Scheme
	kinds  map[schema.GroupVersionKind]*kindIndex
}

// kindIndex holds one kind's objects: by namespace ("" for cluster-scoped),
// each namespace's sorted by name, and the namespaces sorted, so lists come
// out in a stable order.
type kindIndex struct {
	namespaces []string
	byNS       map[string][]client.Object
}

func newMemory(scheme *runtime.Scheme, objs []runtime.Object) (*memory, error) {
	m := &memory{scheme: scheme, kinds: map[schema.GroupVersionKind]*kindIndex{}}
	seen := map[string]bool{}
	for _, o := range objs {
		co, ok := o.(client.Object)
		if !ok {
			continue
		}
		gvk, err := apiutil.GVKForObject(co, scheme)
		if err != nil {
			return nil, err
		}
		key := gvk.GroupKind().String() + " " + co.GetNamespace() + "/" + co.GetName()
		if seen[key] {
			return nil, fmt.Errorf("%s appears twice", key)
		}
		seen[key] = true
		stored, gvk, err := m.toStored(co, gvk)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		// The reader memoizes decoded APIRules by UID and resourceVersion,
		// which objects read from files do not carry.
		if stored.GetUID() == "" {
			stored.SetUID(uuid.NewUUID())
		}
		if stored.GetResourceVersion() == "" {
			stored.SetResourceVersion("1")
		}
		ki := m.kinds[gvk]
		if ki == nil {
			ki = &kindIndex{byNS: map[string][]client.Object{}}
			m.kinds[gvk] = ki
		}
		ki.byNS[stored.GetNamespace()] = append(ki.byNS[stored.GetNamespace()], stored)
	}
	for _, ki := range m.kinds {
		for ns, l := range ki.byNS {
			ki.namespaces = append(ki.namespaces, ns)
			slices.SortFunc(l, func(a, b client.Object) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
		slices.Sort(ki.namespaces)
	}
	return m, nil
}

// toStored copies o (the caller keeps its object) under the hub version of
// its kind, in the Go type the Scheme has for that version: typed objects
// given in another version, or as unstructured, are converted once here.
func (m *memory) toStored(o client.Object, gvk schema.GroupVersionKind) (client.Object, schema.GroupVersionKind, error) {
	hub := gvk
	if v, ok := hubVersions[gvk.Group]; ok && m.scheme.Recognizes(gvk.GroupKind().WithVersion(v)) {
		hub.Version = v
	}
	to, err := m.scheme.New(hub)
	if err != nil {
		return nil, gvk, err
	}
	if _, isU := to.(runtime.Unstructured); isU {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return nil, gvk, fmt.Errorf("%T: the Scheme reads this kind unstructured", o)
		}
		// Unstructured kinds keep their content; like the API server
		// without a conversion webhook, only the version label changes.
		u = u.DeepCopy()
		u.SetGroupVersionKind(hub)
		return u, hub, nil
	}
	if reflect.TypeOf(to) == reflect.TypeOf(o) {
		c := o.DeepCopyObject().(client.Object)
		c.GetObjectKind().SetGroupVersionKind(hub)
		return c, hub, nil
	}
	// Istio's versions of a kind share one schema, and an unstructured
	// object is its JSON: the JSON of the one is the JSON of the other.
	raw, err := json.Marshal(o)
	if err != nil {
		return nil, gvk, err
	}
	if err := json.Unmarshal(raw, to); err != nil {
		return nil, gvk, fmt.Errorf("as %s: %w", hub.GroupVersion(), err)
	}
	to.GetObjectKind().SetGroupVersionKind(hub)
	c, ok := to.(client.Object)
	if !ok {
		return nil, gvk, fmt.Errorf("%T is not an object", to)
	}
	return c, hub, nil
}

// Get implements client.Reader.
func (m *memory) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	gvk, err := apiutil.GVKForObject(obj, m.scheme)
	if err != nil {
		return err
	}
	if ki := m.kinds[gvk]; ki != nil {
		l := ki.byNS[key.Namespace]
		if i, found := slices.BinarySearchFunc(l, key.Name, func(o client.Object, name string) int { return strings.Compare(o.GetName(), name) }); found {
			return assign(obj, l[i])
		}
	}
	return apierrors.NewNotFound(resourceOf(gvk), key.Name)
}

// List implements client.Reader for typed lists, UnstructuredList and
// PartialObjectMetadataList, with InNamespace and label selectors.
func (m *memory) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if o.FieldSelector != nil && !o.FieldSelector.Empty() {
		return fmt.Errorf("memory reader: field selectors are not supported")
	}
	listGVK, err := apiutil.GVKForObject(list, m.scheme)
	if err != nil {
		return err
	}
	gvk := listGVK.GroupVersion().WithKind(strings.TrimSuffix(listGVK.Kind, "List"))
	if !m.scheme.Recognizes(gvk) {
		return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	var found []client.Object
	if ki := m.kinds[gvk]; ki != nil {
		namespaces := ki.namespaces
		if o.Namespace != "" {
			namespaces = []string{o.Namespace}
		}
		for _, ns := range namespaces {
			for _, obj := range ki.byNS[ns] {
				if o.LabelSelector == nil || o.LabelSelector.Matches(labels.Set(obj.GetLabels())) {
					found = append(found, obj)
				}
			}
		}
	}
	switch l := list.(type) {
	case *unstructured.UnstructuredList:
		l.Items = make([]unstructured.Unstructured, 0, len(found))
		for _, obj := range found {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("memory reader: %s is stored typed; list it typed", gvk)
			}
			l.Items = append(l.Items, *u)
		}
		return nil
	case *metav1.PartialObjectMetadataList:
		l.Items = make([]metav1.PartialObjectMetadata, 0, len(found))
		for _, obj := range found {
			l.Items = append(l.Items, metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind},
				ObjectMeta: objectMeta(obj),
			})
		}
		return nil
	}
	items := make([]runtime.Object, 0, len(found))
	for _, obj := range found {
		items = append(items, obj.DeepCopyObject())
	}
	return meta.SetList(list, items)
}

// assign fills obj, which the caller allocated, from a stored object of the
// same kind.
func assign(obj, stored client.Object) error {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		su, ok := stored.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("memory reader: %T is stored typed; get it typed", stored)
		}
		u.Object = su.Object
		return nil
	}
	dst, src := reflect.ValueOf(obj), reflect.ValueOf(stored.DeepCopyObject())
	if dst.Type() != src.Type() {
		return fmt.Errorf("memory reader: cannot read %T into %T", stored, obj)
	}
	dst.Elem().Set(src.Elem())
	return nil
}

// objectMeta copies the metadata of a stored object.
func objectMeta(o client.Object) metav1.ObjectMeta {
	if a, ok := o.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return *om.DeepCopy()
		}
	}
	return metav1.ObjectMeta{Name: o.GetName(), Namespace: o.GetNamespace(), UID: o.GetUID(),
		ResourceVersion: o.GetResourceVersion(), Labels: o.GetLabels(), Annotations: o.GetAnnotations()}
}

func resourceOf(gvk schema.GroupVersionKind) schema.GroupResource {
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural.GroupResource()
}
