package cluster

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestConfigMap(t *testing.T) {
	ctx := context.Background()
	ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "partner-ca", Namespace: "istio-system"},
		Data: map[string]string{"ca.crt": "pem"}}
	s, err := FromObjects(ca)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ConfigMap(ctx, "istio-system", "partner-ca")
	if err != nil || got == nil || got.Data["ca.crt"] != "pem" {
		t.Fatalf("configmap: %v %v", got, err)
	}
	if got, err := s.ConfigMap(ctx, "istio-system", "nope"); got != nil || err != nil {
		t.Fatalf("missing configmap: want (nil, nil), got %v %v", got, err)
	}
	if got, err := s.ConfigMap(ctx, "other", "partner-ca"); got != nil || err != nil {
		t.Fatalf("other namespace: want (nil, nil), got %v %v", got, err)
	}
}

// cmCountingReader counts Get calls, so the memo's single read is observable.
type cmCountingReader struct {
	client.Reader
	gets int
	err  error
}

func (c *cmCountingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets++
	if c.err != nil {
		return c.err
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

func TestConfigMapMemoAsksOnce(t *testing.T) {
	ctx := context.Background()
	base, err := FromObjects(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: "gw"}})
	if err != nil {
		t.Fatal(err)
	}
	cr := &cmCountingReader{Reader: base.(*reader).r}
	m := Memo(FromReader(cr))
	for range 3 {
		if got, err := m.ConfigMap(ctx, "gw", "ca"); got == nil || err != nil {
			t.Fatalf("configmap: %v %v", got, err)
		}
	}
	if cr.gets != 1 {
		t.Fatalf("Get called %d times, want 1", cr.gets)
	}

	// An unreadable namespace is an error, not a missing object.
	denied := errors.New(`unable to get: other/ca because of unknown namespace for the cache`)
	m = Memo(FromReader(&cmCountingReader{Reader: base.(*reader).r, err: denied}))
	if got, err := m.ConfigMap(ctx, "other", "ca"); got != nil || !errors.Is(err, denied) {
		t.Fatalf("want the read error, got %v %v", got, err)
	}
}
