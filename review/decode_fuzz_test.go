package review

// FuzzDecode: arbitrary bytes decoded as every kind and version of the
// table (and a few it does not know) give a typed object, a refusal or an
// "unchecked" admission, never a panic, and never an object of a kind the
// table does not know.
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./review/

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fuzzGVKs are every served kind and version, then unknown ones.
func fuzzGVKs() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, k := range Kinds {
		for _, v := range k.Versions {
			out = append(out, schema.GroupVersionKind{Group: k.Group, Version: v.Name, Kind: k.Kind})
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
	gvks := fuzzGVKs()
	for i, s := range seeds {
		for j := range gvks {
			if (i+j)%3 == 0 || i < 5 {
				f.Add(uint8(j), []byte(s))
			}
		}
	}
	rv := &Reviewer{}
	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		gvk := gvks[int(k)%len(gvks)]
		obj, v, res := rv.decode(&Request{GVK: gvk, Namespace: "default", Operation: "CREATE", Object: raw})
		switch {
		case res != nil && (obj != nil || v != nil):
			t.Fatalf("decode(%s) gave an object and an answer", gvk)
		case res == nil && (obj == nil || obj.Typed == nil || v == nil):
			t.Fatalf("decode(%s) gave neither an object nor an answer", gvk)
		}
		if _, _, known := Find(gvk); res == nil && !known {
			t.Fatalf("decode(%s) accepted a kind it does not know", gvk)
		}
		if res != nil && !known(gvk) && !res.Allowed {
			t.Fatalf("decode(%s): an unknown kind must be admitted unchecked, not refused", gvk)
		}
	})
}

func known(gvk schema.GroupVersionKind) bool {
	_, _, ok := Find(gvk)
	return ok
}
