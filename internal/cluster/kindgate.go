package cluster

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// AbsentKindTTL is how long GateAbsentKinds trusts that a kind is not served.
const AbsentKindTTL = 30 * time.Second

// GateAbsentKinds wraps the manager's cache so that a kind the cluster does
// not serve (an optional CRD: the Kyma Istio CR, cert-manager or Gardener
// Certificates, VirtualServices) is asked about once per ttl, not once per
// admission. Without it every read of such a kind makes the cache try to
// start an informer: a discovery request through the client's rate limiter,
// made while holding the lock every other cache read needs, so one missing
// CRD turns into hundreds of milliseconds on every admission. A CRD installed
// later is picked up within ttl.
func GateAbsentKinds(r client.Reader, scheme *runtime.Scheme, ttl time.Duration) client.Reader {
	return &kindGate{r: r, scheme: scheme, ttl: ttl, now: time.Now, absent: map[schema.GroupVersionKind]absentKind{}}
}

type absentKind struct {
	until time.Time
	err   error
}

type kindGate struct {
	r      client.Reader
	scheme *runtime.Scheme
	ttl    time.Duration
	now    func() time.Time

	mu     sync.Mutex
	absent map[schema.GroupVersionKind]absentKind
}

func (g *kindGate) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	gvk, ok := g.kind(obj)
	if ok {
		if err := g.known(gvk); err != nil {
			return err
		}
	}
	err := g.r.Get(ctx, key, obj, opts...)
	if ok {
		g.observe(gvk, err)
	}
	return err
}

func (g *kindGate) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	gvk, ok := g.kind(list)
	if ok {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
		if err := g.known(gvk); err != nil {
			return err
		}
	}
	err := g.r.List(ctx, list, opts...)
	if ok {
		g.observe(gvk, err)
	}
	return err
}

func (g *kindGate) kind(obj runtime.Object) (schema.GroupVersionKind, bool) {
	gvk, err := apiutil.GVKForObject(obj, g.scheme)
	return gvk, err == nil && !gvk.Empty()
}

// known returns the remembered "not served" error while it is fresh.
func (g *kindGate) known(gvk schema.GroupVersionKind) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.absent[gvk]
	if !ok {
		return nil
	}
	if g.now().After(a.until) {
		delete(g.absent, gvk)
		return nil
	}
	return a.err
}

func (g *kindGate) observe(gvk schema.GroupVersionKind, err error) {
	if err == nil || !notServed(err) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.absent[gvk] = absentKind{until: g.now().Add(g.ttl), err: err}
}
