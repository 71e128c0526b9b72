package review

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// warmTrust answers from memory, as the resolver's cache does once warm.
type warmTrust struct{}

const benchIssuer = "https://issuer.example.com"

var benchJWKS = []byte(`{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1","e":"AQAB","n":"` +
	"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw" +
	`"}]}`)

func (warmTrust) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	return &trust.Discovery{Issuer: issuer, JWKSURI: issuer + "/jwks"}, nil
}
func (warmTrust) JWKS(context.Context, string) (*trust.KeySet, error) {
	return &trust.KeySet{Raw: benchJWKS}, nil
}

func benchState(b testing.TB) cluster.State {
	gw := map[string]any{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyma-gateway, namespace: kyma-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.example.com"]
    tls: {mode: SIMPLE, credentialName: kyma-tls, minProtocolVersion: TLSV1_2}
`), &gw); err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(gw)
	typed, err := cluster.Scheme.New(schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"})
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(raw, typed); err != nil {
		b.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "httpbin"}, Ports: []corev1.ServicePort{{Port: 8000}}}}
	st, err := cluster.FromObjects([]runtime.Object{typed, svc}...)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkReview measures mutate+validate of one object per kind with warm
// caches: the work gatewarden adds to an admission beyond TLS and JSON.
func BenchmarkReview(b *testing.B) {
	cases := map[string]struct {
		gvk schema.GroupVersionKind
		doc string
	}{
		"APIRule-v2-jwt": {apirule.V2, `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":{"name":"a","namespace":"default"},
			"spec":{"hosts":["a.example.com"],"gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8000},
			"rules":[{"path":"/api/{**}","methods":["GET"],"jwt":{"authentications":[{"issuer":"` + benchIssuer + `","jwksUri":"` + benchIssuer + `/jwks"}]}},
			{"path":"/health","methods":["GET"],"noAuth":true}]}}`},
		"Gateway-http": {schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
			`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"g","namespace":"default"},
			"spec":{"selector":{"app":"gw"},"servers":[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["*.example.org"]}]}}`},
		"RequestAuthentication": {schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "RequestAuthentication"},
			`{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":"r","namespace":"default"},
			"spec":{"jwtRules":[{"issuer":"` + benchIssuer + `","jwksUri":"` + benchIssuer + `/jwks"}]}}`},
		"AuthorizationPolicy": {schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"},
			`{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"p","namespace":"default"},
			"spec":{"rules":[{"from":[{"source":{"principals":["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]}}]}]}}`},
	}
	rv := &Reviewer{Config: config.Default(), Cluster: benchState(b), Trust: warmTrust{}}
	for name, tc := range cases {
		b.Run(name, func(b *testing.B) {
			req := &Request{GVK: tc.gvk, Namespace: "default", Name: "x", Operation: "CREATE", Object: []byte(tc.doc)}
			if res := rv.Review(context.Background(), req); !res.Allowed {
				b.Fatalf("benchmark object denied: %v", res.Violations)
			}
			b.ReportAllocs()
			for b.Loop() {
				rv.Review(context.Background(), req)
			}
		})
	}
}
