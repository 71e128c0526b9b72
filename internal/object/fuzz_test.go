package object

// FuzzDecode: arbitrary bytes decoded as every kind and version gatewarden
// knows (and a few it does not) must give a typed object or an error, never
// a panic, and never a nil object without an error.
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./internal/object/

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fuzzGVKs are every served kind and version, then unknown ones.
func fuzzGVKs() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, r := range Resources {
		for _, v := range r.Versions {
			out = append(out, schema.GroupVersionKind{Group: r.Group, Version: v, Kind: r.Kind})
		}
	}
	return append(out,
		schema.GroupVersionKind{Group: "gateway.kyma-project.io", Version: "v1alpha1", Kind: "APIRule"},
		schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
		schema.GroupVersionKind{Version: "v1", Kind: "Secret"},
	)
}

func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":{"name":"r","namespace":"default"},"spec":{"hosts":["a.example.com"],"gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8000},"rules":[{"path":"/{**}","methods":["GET"],"noAuth":true}]}}`,
		`{"apiVersion":"gateway.kyma-project.io/v1beta1","kind":"APIRule","spec":{"host":"a","service":{"name":"s","port":80},"rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"jwt","config":{"jwks_urls":["https://x/jwks"],"trusted_issuers":["https://x"]}}]}]}}`,
		`{"apiVersion":"networking.istio.io/v1","kind":"Gateway","spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*"],"tls":{"mode":"MUTUAL","credentialName":"c"}}]}}`,
		`{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","spec":{"jwtRules":[{"issuer":"https://x","jwksUri":"https://x/jwks","jwks":"{}"}]}}`,
		`{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","spec":{"action":"ALLOW","rules":[{"from":[{"source":{"requestPrincipals":["*"]}}]}]}}`,
		`{"spec":{"servers":[{"port":{"number":"443"}}]}}`, // wrong type
		`{"spec":{"rules":[{"timeout":-1,"methods":"GET"}]}}`,
		`{"spec":{"action":7}}`,
		`{}`, `null`, `[]`, `"x"`, ``, `{`, "\xff\xfe",
	}
	for i, s := range seeds {
		for j := range fuzzGVKs() {
			if (i+j)%3 == 0 || i < 5 {
				f.Add(uint8(j), []byte(s))
			}
		}
	}
	gvks := fuzzGVKs()
	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		gvk := gvks[int(k)%len(gvks)]
		obj, err := Decode(gvk, raw)
		if err == nil && obj == nil {
			t.Fatalf("Decode(%s) returned neither an object nor an error", gvk)
		}
		if err == nil && !Known(gvk) {
			t.Fatalf("Decode(%s) accepted a kind it does not know", gvk)
		}
	})
}
