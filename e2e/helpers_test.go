package e2e

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
)

// obj parses one YAML object.
func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	return u
}

// namespace creates a fresh namespace for one test and deletes it after.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	return name
}

// mustCreate creates objects that setup needs, failing the test otherwise.
func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
}

// denied asserts err is a webhook denial mentioning every fragment.
func denied(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a denial mentioning %q, got admitted", fragments)
	}
	msg := err.Error()
	if !strings.Contains(msg, "denied the request") {
		t.Fatalf("want a webhook denial, got: %v", err)
	}
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("denial does not mention %q:\n%s", f, msg)
		}
	}
}

func admitted(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("want admitted, got: %v", err)
	}
}

// warned asserts some warning mentions every fragment.
func warned(t *testing.T, w *warnings, fragments ...string) {
	t.Helper()
	if !w.has(fragments...) {
		t.Errorf("no warning mentions %q; warnings: %q", fragments, w.all())
	}
}

// has reports whether some warning mentions every fragment.
func (w *warnings) has(fragments ...string) bool {
	for _, msg := range w.all() {
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(msg, f)
		}
		if ok {
			return true
		}
	}
	return false
}

// notWarned asserts no warning mentions fragment.
func notWarned(t *testing.T, w *warnings, fragment string) {
	t.Helper()
	for _, msg := range w.all() {
		if strings.Contains(msg, fragment) {
			t.Errorf("unexpected warning mentioning %q: %s", fragment, msg)
		}
	}
}
