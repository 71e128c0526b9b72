package mutators

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

var gatewayV1 = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}

// fakeTrust answers discovery from a map of issuer to document; any other
// issuer gets HTTP 404. It counts calls per issuer.
type fakeTrust struct {
	docs  map[string]*trust.Discovery
	calls map[string]int
}

func newFakeTrust(docs map[string]*trust.Discovery) *fakeTrust {
	return &fakeTrust{docs: docs, calls: map[string]int{}}
}

func (f *fakeTrust) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	f.calls[issuer]++
	if d, ok := f.docs[issuer]; ok {
		return d, nil
	}
	return nil, &trust.FetchError{URL: issuer + "/.well-known/openid-configuration", Kind: trust.Status, Status: 404}
}

func (f *fakeTrust) JWKS(context.Context, string) (*trust.KeySet, error) {
	return nil, errors.New("fakeTrust: JWKS is not used by defaults")
}

// discovery is a well-behaved document for issuer.
func discovery(issuer string) *trust.Discovery {
	return &trust.Discovery{Issuer: issuer, JWKSURI: issuer + "/keys"}
}

// stdTrust knows https://idp.example.com and https://other.example.com.
func stdTrust() *fakeTrust {
	return newFakeTrust(map[string]*trust.Discovery{
		"https://idp.example.com":   discovery("https://idp.example.com"),
		"https://other.example.com": discovery("https://other.example.com"),
		"https://alias.example.com": {Issuer: "https://alias.example.com", JWKSURI: "https://idp.example.com/keys"},
		// a document that names another issuer than the one asked for
		"https://mismatch.example.com": {Issuer: "https://mismatch.example.com/", JWKSURI: "https://mismatch.example.com/keys"},
	})
}

func service(ns, name string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p})
	}
	return s
}

// stdCluster holds default/one (port 8080), default/two (80, 443), other/one
// (9090) and default/none (no ports).
func stdCluster(t *testing.T) cluster.State {
	t.Helper()
	return clusterOf(t, service("default", "one", 8080), service("default", "two", 80, 443),
		service("other", "one", 9090), service("default", "none"))
}

func clusterOf(t *testing.T, objs ...runtime.Object) cluster.State {
	t.Helper()
	st, err := cluster.FromObjects(objs...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// decode reads raw into the Go type of its version, as the table of kinds
// in review does.
func decode(t *testing.T, gvk schema.GroupVersionKind, raw string) any {
	t.Helper()
	var typed any
	switch {
	case gvk.Kind == "APIRule" && gvk.Version == "v1beta1":
		typed = &apirule.V1beta1APIRule{}
	case gvk.Kind == "APIRule":
		typed = &apirule.APIRule{}
	case gvk.Kind == "Gateway":
		typed = &networkingv1.Gateway{}
	default:
		t.Fatalf("no defaults for %s", gvk)
	}
	if err := json.Unmarshal([]byte(raw), typed); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return typed
}

// defaulter is the Defaulter the table of kinds names for gvk.
func defaulter(gvk schema.GroupVersionKind) Defaulter {
	switch {
	case gvk.Kind == "APIRule" && gvk.Version == "v1beta1":
		return APIRuleV1beta1
	case gvk.Kind == "APIRule":
		return APIRule
	case gvk.Kind == "Gateway":
		return Gateway
	}
	return nil
}

// runObj runs the defaults of obj's kind.
func runObj(obj *core.Object, env *core.Env) ([]jsonpatch.JsonPatchOperation, []core.Finding) {
	return Run(context.Background(), obj, env, defaulter(obj.GVK))
}

// mutate runs the defaults on raw with the namespace "default".
func mutate(t *testing.T, gvk schema.GroupVersionKind, raw string, env *core.Env) ([]jsonpatch.JsonPatchOperation, []core.Finding) {
	t.Helper()
	obj := &core.Object{GVK: gvk, Namespace: "default", Name: "r", Operation: "CREATE", Typed: decode(t, gvk, raw)}
	return runObj(obj, env)
}

// opLines renders operations as "op path value" lines, value as JSON.
func opLines(t *testing.T, ops []jsonpatch.JsonPatchOperation) []string {
	t.Helper()
	out := make([]string, 0, len(ops))
	for _, o := range ops {
		v, err := json.Marshal(o.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Operation+" "+o.Path+" "+string(v))
	}
	return out
}

// specOps drops the annotation operation, for tests of one default.
func specOps(t *testing.T, ops []jsonpatch.JsonPatchOperation) []string {
	t.Helper()
	var out []string
	for _, l := range opLines(t, ops) {
		if !strings.Contains(l, " /metadata") {
			out = append(out, l)
		}
	}
	return out
}

// warningLines renders findings as "check field" lines, sorted.
func warningLines(fs []core.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Check+" "+f.Field)
	}
	sort.Strings(out)
	return out
}

// apply applies ops to raw with an RFC 6902 implementation.
func apply(t *testing.T, raw string, ops []jsonpatch.JsonPatchOperation) string {
	t.Helper()
	if len(ops) == 0 {
		return raw
	}
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch5.DecodePatch(b)
	if err != nil {
		t.Fatalf("decode patch %s: %v", b, err)
	}
	out, err := p.Apply([]byte(raw))
	if err != nil {
		t.Fatalf("apply patch %s: %v", b, err)
	}
	return string(out)
}

// v2 wraps a spec into a v2 APIRule document in namespace default.
func v2(spec string) string {
	return `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":{"name":"r","namespace":"default"},"spec":` + spec + `}`
}

func v1beta1(spec string) string {
	return `{"apiVersion":"gateway.kyma-project.io/v1beta1","kind":"APIRule","metadata":{"name":"r","namespace":"default"},"spec":` + spec + `}`
}

func gatewayDoc(servers string) string {
	return `{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"g","namespace":"default"},"spec":{"servers":` + servers + `}}`
}
