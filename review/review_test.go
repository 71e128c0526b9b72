package review

import (
	"context"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
)

var gatewayV1 = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}

const mutualNoCA = `{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"g"},
 "spec":{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"MUTUAL"}}]}}`

func TestReview(t *testing.T) {
	st, err := cluster.FromObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "soft", Labels: map[string]string{config.DefaultNamespaceLabel: "warn"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "skip", Labels: map[string]string{config.DefaultNamespaceLabel: "off"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rv := &Reviewer{Config: config.Default(), Cluster: st, Trust: trust.Offline{}}
	cases := []struct {
		name      string
		gvk       schema.GroupVersionKind
		ns, doc   string
		allowed   bool
		violation string
		warning   string
		patch     bool
	}{
		{"denied", gatewayV1, "app", mutualNoCA, false, "spec.servers[0].tls.credentialName", "", true},
		{"softened by namespace label", gatewayV1, "soft", mutualNoCA, true, "", "gateway-mtls-credential", true},
		{"exempt namespace", gatewayV1, "skip", mutualNoCA, true, "", "", false},
		{"unknown version admitted with a warning", schema.GroupVersionKind{Group: "networking.istio.io", Version: "v2", Kind: "Gateway"}, "app", mutualNoCA, true, "", "not checked by gatewarden", false},
		{"undecodable object refused", gatewayV1, "app", `{"spec":{"servers":"nope"}}`, false, "cannot decode", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := rv.Review(context.Background(), &Request{GVK: tc.gvk, Namespace: tc.ns, Name: "g", Operation: "CREATE", Object: []byte(tc.doc)})
			if res.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", res.Allowed, tc.allowed, res.Violations)
			}
			if tc.violation != "" && !contains(res.Violations, tc.violation) {
				t.Errorf("violations %+v lack %q", res.Violations, tc.violation)
			}
			if tc.warning != "" && !contains(res.Warnings, tc.warning) {
				t.Errorf("warnings %+v lack %q", res.Warnings, tc.warning)
			}
			// The Gateway has a TLS server without minProtocolVersion: the
			// defaults patch it, and validation saw the patched object.
			if got := len(res.Patch) > 0; got != tc.patch {
				t.Errorf("patch = %v, want patch: %v", res.Patch, tc.patch)
			}
		})
	}
}

func contains[T interface{ String() string }](fs []T, frag string) bool {
	for _, f := range fs {
		if strings.Contains(f.String(), frag) {
			return true
		}
	}
	return false
}

// Checks and defaults read one namespace: the request's, else the
// object's, else default.
func TestNormalizeNamespace(t *testing.T) {
	for _, c := range []struct{ req, obj, want string }{
		{"app", "", "app"}, {"app", "other", "app"}, {"", "other", "other"}, {"", "", "default"},
	} {
		gw := &networkingv1.Gateway{}
		gw.Namespace = c.obj
		if got := normalize(gw, c.req); got != c.want || gw.Namespace != c.want {
			t.Errorf("request %q, object %q: got %q (object now %q), want %q", c.req, c.obj, got, gw.Namespace, c.want)
		}
	}
}
