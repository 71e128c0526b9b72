// Package informertest builds the cache serve reads from, with the same
// options and indexes (cluster.CacheOptions, cluster.Indexes), over objects
// held in memory instead of an API server: its informers list and watch
// client-go's fake sources. Benchmarks and tests measure and exercise what
// the webhook really reads through, transforms and deep-copy rules included.
package informertest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/gatewarden/gatewarden/internal/cluster"
)

// Cache is a started cache over in-memory sources.
type Cache struct {
	cache.Cache
	mu      sync.Mutex
	sources map[schema.GroupVersionKind]*fcache.FakeControllerSource
}

// New starts a cache holding objs, with the indexes of cluster.Indexes and
// extra, and waits until every informer for watched (and for the kinds of
// objs) has synced. It stops when ctx ends. Objects of an unstructured kind
// must carry their GVK; typed objects may leave it empty.
func New(ctx context.Context, watched []client.Object, extra []cluster.Index, objs ...client.Object) (*Cache, error) {
	c := &Cache{sources: map[schema.GroupVersionKind]*fcache.FakeControllerSource{}}
	opts := cluster.CacheOptions(cluster.CacheScope{})
	opts.Scheme = cluster.Scheme
	opts.Mapper = mapper()
	opts.HTTPClient = http.DefaultClient
	opts.NewInformer = func(_ toolscache.ListerWatcher, exemplar runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
		gvk, err := apiutil.GVKForObject(exemplar, cluster.Scheme)
		if err != nil {
			panic(fmt.Sprintf("informertest: %T: %v", exemplar, err))
		}
		return toolscache.NewSharedIndexInformer(c.source(gvk), exemplar, resync, indexers)
	}
	// Nothing dials this address: every informer reads a fake source.
	cc, err := cache.New(&rest.Config{Host: "https://127.0.0.1:1"}, opts)
	if err != nil {
		return nil, err
	}
	c.Cache = cc
	for _, o := range objs {
		if err := c.Add(o); err != nil {
			return nil, err
		}
	}
	if _, err := cluster.AddIndexes(ctx, cc, append(cluster.Indexes(), extra...)...); err != nil {
		return nil, err
	}
	want := append([]client.Object{}, watched...)
	want = append(want, objs...)
	for _, o := range want {
		if _, err := cc.GetInformer(ctx, o, cache.BlockUntilSynced(false)); err != nil {
			return nil, err
		}
	}
	go func() { _ = cc.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cc.WaitForCacheSync(syncCtx) {
		return nil, fmt.Errorf("informertest: cache did not sync")
	}
	return c, nil
}

func (c *Cache) source(gvk schema.GroupVersionKind) *fcache.FakeControllerSource {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sources[gvk]
	if s == nil {
		s = fcache.NewFakeControllerSource()
		c.sources[gvk] = s
	}
	return s
}

func (c *Cache) sourceOf(o client.Object) (*fcache.FakeControllerSource, runtime.Object, error) {
	gvk, err := apiutil.GVKForObject(o, cluster.Scheme)
	if err != nil {
		return nil, nil, err
	}
	obj := o.DeepCopyObject().(client.Object)
	// The API server sends every object with its kind, and unstructured
	// ones need it to be told apart.
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if obj.GetUID() == "" {
		// One identity per object across Add, Modify and Delete.
		obj.SetUID(types.UID(gvk.GroupKind().String() + "/" + obj.GetNamespace() + "/" + obj.GetName()))
	}
	return c.source(gvk), obj, nil
}

// Add stores an object, as if created.
func (c *Cache) Add(o client.Object) error {
	s, obj, err := c.sourceOf(o)
	if err != nil {
		return err
	}
	s.Add(obj)
	return nil
}

// Modify replaces a stored object, as if updated.
func (c *Cache) Modify(o client.Object) error {
	s, obj, err := c.sourceOf(o)
	if err != nil {
		return err
	}
	s.Modify(obj)
	return nil
}

// Delete removes a stored object.
func (c *Cache) Delete(o client.Object) error {
	s, obj, err := c.sourceOf(o)
	if err != nil {
		return err
	}
	s.Delete(obj)
	return nil
}

// mapper maps every kind of cluster.Scheme to its guessed resource,
// namespaced except Namespaces.
func mapper() meta.RESTMapper {
	gvs := map[schema.GroupVersion]bool{}
	for gvk := range cluster.Scheme.AllKnownTypes() {
		gvs[gvk.GroupVersion()] = true
	}
	var versions []schema.GroupVersion
	for gv := range gvs {
		versions = append(versions, gv)
	}
	m := meta.NewDefaultRESTMapper(versions)
	for gvk := range cluster.Scheme.AllKnownTypes() {
		scope := meta.RESTScopeNamespace
		if gvk.Group == "" && (gvk.Kind == "Namespace" || gvk.Kind == "Node") {
			scope = meta.RESTScopeRoot
		}
		m.Add(gvk, scope)
	}
	return m
}

// PodMeta is a pod as serve caches it: metadata only.
func PodMeta(namespace, name string, labels map[string]string) client.Object {
	p := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels}}
	p.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	return p
}
