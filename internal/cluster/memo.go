package cluster

import (
	"context"
	"sync"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// Memo wraps a State for one review: every question is asked of s once, and
// later askers get the same answer. Checks may then look up what they need
// where they need it (the same Service for every rule, the same Secret for
// every server) without keeping maps of their own, and one review sees one
// consistent picture of the cluster. Answers are shared, so callers only
// read them.
func Memo(s State) State {
	if _, ok := s.(*memo); ok {
		return s
	}
	return &memo{s: s}
}

// memo keeps its first answers in an array: most reviews ask a handful of
// questions, and a map's first table is larger than all of them.
type memo struct {
	s    State
	mu   sync.Mutex
	few  [4]memoEntry
	n    int
	more map[memoKey]memoAnswer
}

type memoKey struct {
	what, namespace, name string
}

type memoAnswer struct {
	v   any
	err error
}

type memoEntry struct {
	key memoKey
	memoAnswer
}

func (m *memo) load(key memoKey) (memoAnswer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loadLocked(key)
}

func (m *memo) loadLocked(key memoKey) (memoAnswer, bool) {
	for i := range m.n {
		if m.few[i].key == key {
			return m.few[i].memoAnswer, true
		}
	}
	a, ok := m.more[key]
	return a, ok
}

// store keeps a, unless a concurrent asker's answer is already kept: that
// one is returned, so that every asker sees the same.
func (m *memo) store(key memoKey, a memoAnswer) memoAnswer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if kept, ok := m.loadLocked(key); ok {
		return kept
	}
	switch {
	case m.n < len(m.few):
		m.few[m.n] = memoEntry{key, a}
		m.n++
	case m.more == nil:
		m.more = map[memoKey]memoAnswer{key: a}
	default:
		m.more[key] = a
	}
	return a
}

// ask answers key from the memo, or from fetch once.
func ask[T any](m *memo, key memoKey, fetch func() (T, error)) (T, error) {
	a, ok := m.load(key)
	if !ok {
		v, err := fetch()
		a = m.store(key, memoAnswer{v, err})
	}
	v, _ := a.v.(T)
	return v, a.err
}

func (m *memo) Gateway(ctx context.Context, ns, name string) (*networkingv1.Gateway, error) {
	return ask(m, memoKey{"gateway", ns, name}, func() (*networkingv1.Gateway, error) { return m.s.Gateway(ctx, ns, name) })
}

func (m *memo) Gateways(ctx context.Context, ns string) ([]*networkingv1.Gateway, error) {
	return ask(m, memoKey{"gateways", ns, ""}, func() ([]*networkingv1.Gateway, error) { return m.s.Gateways(ctx, ns) })
}

func (m *memo) VirtualServices(ctx context.Context, ns string) ([]*networkingv1.VirtualService, error) {
	return ask(m, memoKey{"virtualservices", ns, ""}, func() ([]*networkingv1.VirtualService, error) { return m.s.VirtualServices(ctx, ns) })
}

func (m *memo) RequestAuthentications(ctx context.Context, ns string) ([]*securityv1.RequestAuthentication, error) {
	return ask(m, memoKey{"requestauthentications", ns, ""}, func() ([]*securityv1.RequestAuthentication, error) {
		return m.s.RequestAuthentications(ctx, ns)
	})
}

func (m *memo) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return ask(m, memoKey{"secret", ns, name}, func() (*corev1.Secret, error) { return m.s.Secret(ctx, ns, name) })
}

func (m *memo) Service(ctx context.Context, ns, name string) (*corev1.Service, error) {
	return ask(m, memoKey{"service", ns, name}, func() (*corev1.Service, error) { return m.s.Service(ctx, ns, name) })
}

func (m *memo) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	return ask(m, memoKey{"namespace", "", name}, func() (*corev1.Namespace, error) { return m.s.Namespace(ctx, name) })
}

func (m *memo) APIRules(ctx context.Context, ns string) ([]*apirule.APIRule, error) {
	return ask(m, memoKey{"apirules", ns, ""}, func() ([]*apirule.APIRule, error) { return m.s.APIRules(ctx, ns) })
}

func (m *memo) PodNamespaces(ctx context.Context, ns string, selector map[string]string) ([]string, error) {
	return ask(m, memoKey{"pods", ns, selectorKey(selector)}, func() ([]string, error) { return m.s.PodNamespaces(ctx, ns, selector) })
}

func (m *memo) Mesh(ctx context.Context) (*Mesh, error) {
	return ask(m, memoKey{"mesh", "", ""}, func() (*Mesh, error) { return m.s.Mesh(ctx) })
}

func (m *memo) Certificates(ctx context.Context, ns string) ([]Certificate, error) {
	return ask(m, memoKey{"certificates", ns, ""}, func() ([]Certificate, error) { return m.s.Certificates(ctx, ns) })
}

func (m *memo) Pods(ctx context.Context, ns string, selector map[string]string) ([]*metav1.PartialObjectMetadata, error) {
	return ask(m, memoKey{"podmeta", ns, selectorKey(selector)}, func() ([]*metav1.PartialObjectMetadata, error) {
		return m.s.Pods(ctx, ns, selector)
	})
}

func (m *memo) ExternalGateway(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	return ask(m, memoKey{"externalgateway", ns, name}, func() (*unstructured.Unstructured, error) {
		return m.s.ExternalGateway(ctx, ns, name)
	})
}

func (m *memo) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return ask(m, memoKey{"configmap", ns, name}, func() (*corev1.ConfigMap, error) { return m.s.ConfigMap(ctx, ns, name) })
}

// selectorKey writes a label selector in one canonical form.
func selectorKey(sel map[string]string) string {
	return labels.SelectorFromSet(sel).String()
}
