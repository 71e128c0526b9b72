package cluster

import (
	"context"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// countingReader answers NoKindMatch for the kinds in missing, NotFound for
// everything else, and counts the calls that reach it.
type countingReader struct {
	missing map[string]bool
	calls   map[string]int
}

func (c *countingReader) answer(kind string) error {
	c.calls[kind]++
	if c.missing[kind] {
		return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: kind}}
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: kind}, "x")
}

func (c *countingReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	gvk, _ := (&kindGate{scheme: Scheme}).kind(obj)
	return c.answer(gvk.Kind)
}

func (c *countingReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	gvk, _ := (&kindGate{scheme: Scheme}).kind(list)
	return c.answer(gvk.Kind)
}

func TestGateAbsentKinds(t *testing.T) {
	ctx := context.Background()
	inner := &countingReader{missing: map[string]bool{"Istio": true, "IstioList": true, "CertificateList": true}, calls: map[string]int{}}
	g := GateAbsentKinds(inner, Scheme, time.Minute).(*kindGate)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }

	istio := func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(KymaIstio)
		return g.Get(ctx, client.ObjectKey{Name: "default", Namespace: "kyma-system"}, u)
	}
	istioList := func() error {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(KymaIstio.GroupVersion().WithKind("IstioList"))
		return g.List(ctx, l)
	}
	for i := 0; i < 5; i++ {
		if err := istio(); !meta.IsNoMatchError(err) {
			t.Fatalf("get %d of an absent kind: %v, want the no-match error", i, err)
		}
		if err := istioList(); !meta.IsNoMatchError(err) {
			t.Fatalf("list %d of an absent kind: %v, want the no-match error", i, err)
		}
		if err := g.List(ctx, &certmanagerv1.CertificateList{}); !meta.IsNoMatchError(err) {
			t.Fatalf("list %d of typed absent kind: %v", i, err)
		}
		// Served kinds always reach the cache; NotFound is an answer about
		// one object, never remembered.
		if err := g.Get(ctx, client.ObjectKey{Name: "s", Namespace: "ns"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get %d of a served kind: %v", i, err)
		}
	}
	// A Get and a List of the same kind share the memory.
	if got := inner.calls["Istio"] + inner.calls["IstioList"]; got != 1 {
		t.Errorf("absent kind reached the cache %d times within the ttl, want 1", got)
	}
	if got := inner.calls["CertificateList"]; got != 1 {
		t.Errorf("typed absent kind reached the cache %d times, want 1", got)
	}
	if got := inner.calls["Secret"]; got != 5 {
		t.Errorf("served kind reached the cache %d times, want 5", got)
	}

	// After the ttl the kind is asked about again, so a CRD installed later
	// is picked up.
	now = now.Add(time.Minute + time.Second)
	inner.missing["Istio"], inner.missing["IstioList"] = false, false
	if err := istio(); !apierrors.IsNotFound(err) {
		t.Fatalf("after the ttl, with the CRD installed: %v, want the cache's answer", err)
	}
	if err := istio(); !apierrors.IsNotFound(err) {
		t.Fatalf("installed kind: %v", err)
	}
	if got := inner.calls["Istio"] + inner.calls["IstioList"]; got != 3 {
		t.Errorf("after the ttl the kind reached the cache %d times in all, want 3", got)
	}
}
