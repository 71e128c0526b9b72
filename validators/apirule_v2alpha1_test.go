package validators_test

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// TestAPIRuleV2alpha1GetsTheV2Checks sends each APIRule as v2alpha1 and as v2
// through the validating path the webhook takes (review.Reviewer.Validate:
// decode by GVK, then the validators), and wants the same verdict from both.
func TestAPIRuleV2alpha1GetsTheV2Checks(t *testing.T) {
	st, err := cluster.FromObjects(
		&networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "kyma-system", Name: "kyma-gateway"},
			Spec: networkingapi.Gateway{Servers: []*networkingapi.Server{{
				Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"*.example.com"}}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "httpbin"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "httpbin"}, Ports: []corev1.ServicePort{{Port: 8000}}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "httpbin-1", Labels: map[string]string{"app": "httpbin"},
			Annotations: map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rv := &review.Reviewer{Config: config.Default(), Cluster: st, Trust: trust.Offline{}}
	const rule = `{"path":"/headers","methods":["GET"],"noAuth":true}`
	cases := []struct {
		name       string
		spec       string // spec of the APIRule default/x
		deny, warn []string
	}{
		{"clean", `{"hosts":["httpbin"],"gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8000},"rules":[` + rule + `]}`, nil, nil},
		{"host not served, port missing", `{"hosts":["httpbin.example.org"],"gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8080},"rules":[` + rule + `]}`,
			[]string{"apirule-host-gateway spec.hosts[0]", "apirule-service spec.service.port"}, nil},
		{"gateway not found, rule never reached", `{"hosts":["httpbin"],"gateway":"kyma-system/kyma-gatewy","service":{"name":"httpbin","port":8000},"rules":[` +
			`{"path":"/{**}","methods":["GET"],"noAuth":true},` + rule + `]}`,
			[]string{"apirule-gateway spec.gateway", "apirule-rule-order spec.rules[1].path"}, nil},
		{"unregistered authorizer, overlapping rules", `{"hosts":["httpbin"],"gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8000},"rules":[` +
			`{"path":"/a/{*}","methods":["GET"],"noAuth":true},{"path":"/{*}/b","methods":["GET"],"extAuth":{"authorizers":["nope"]}}]}`,
			[]string{"apirule-extauth spec.rules[1].extAuth.authorizers[0]"}, []string{"apirule-rule-overlap spec.rules[1].path"}},
	}
	for _, tc := range cases {
		for _, gvk := range []schema.GroupVersionKind{apirule.V2alpha1, apirule.V2} {
			t.Run(tc.name+"/"+gvk.Version, func(t *testing.T) {
				doc := `{"apiVersion":"` + gvk.GroupVersion().String() + `","kind":"APIRule","metadata":{"name":"x","namespace":"default"},"spec":` + tc.spec + `}`
				res := rv.Validate(context.Background(), &review.Request{GVK: gvk, Namespace: "default", Name: "x", Operation: "CREATE", Object: []byte(doc)})
				if res.Kind != core.KindAPIRule {
					t.Fatalf("kind = %q: the object was not checked as an APIRule: %+v", res.Kind, res)
				}
				if res.Allowed != (len(tc.deny) == 0) {
					t.Errorf("allowed = %v, want %v", res.Allowed, len(tc.deny) == 0)
				}
				if got := v2aLines(res.Violations); !reflect.DeepEqual(got, tc.deny) {
					t.Errorf("violations = %q, want %q\n%v", got, tc.deny, res.Violations)
				}
				if got := v2aLines(res.Warnings); !reflect.DeepEqual(got, tc.warn) {
					t.Errorf("warnings = %q, want %q\n%v", got, tc.warn, res.Warnings)
				}
			})
		}
	}
}

// v2aLines renders findings as sorted "check field" lines; nil when none.
func v2aLines(fs []core.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, strings.TrimSpace(f.Check+" "+f.Field))
	}
	sort.Strings(out)
	return out
}
