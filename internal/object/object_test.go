package object

import (
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

func TestDecode(t *testing.T) {
	gw := schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "Gateway"}
	obj, err := Decode(gw, []byte(`{"apiVersion":"networking.istio.io/v1alpha3","kind":"Gateway","metadata":{"name":"g"},
		"spec":{"selector":{"istio":"ingressgateway"},"futureField":1,"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},
		"hosts":["*.example.com"],"tls":{"mode":"MUTUAL","credentialName":"c","newTLSField":true}}]}}`))
	if err != nil {
		t.Fatalf("unknown fields must be tolerated: %v", err)
	}
	g := obj.(*networkingv1.Gateway)
	if g.Spec.Servers[0].Tls.CredentialName != "c" || g.Spec.Servers[0].Tls.Mode.String() != "MUTUAL" {
		t.Fatalf("decoded %+v", g.Spec.Servers[0].Tls)
	}

	ra := schema.GroupVersionKind{Group: "security.istio.io", Version: "v1beta1", Kind: "RequestAuthentication"}
	obj, err = Decode(ra, []byte(`{"spec":{"jwtRules":[{"issuer":"https://i","jwksUri":"https://i/k"}]}}`))
	if err != nil || obj.(*securityv1.RequestAuthentication).Spec.JwtRules[0].JwksUri != "https://i/k" {
		t.Fatalf("%v %v", obj, err)
	}

	obj, err = Decode(apirule.V2alpha1, []byte(`{"spec":{"hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"noAuth":true,"x":1}]}}`))
	if err != nil || obj.(*apirule.APIRule).Spec.Rules[0].Path != "/*" {
		t.Fatalf("%v %v", obj, err)
	}

	for _, bad := range []schema.GroupVersionKind{
		{Group: "networking.istio.io", Version: "v2", Kind: "Gateway"},
		{Group: apirule.Group, Version: "v3", Kind: "APIRule"},
		{Group: "", Version: "v1", Kind: "Pod"},
	} {
		if _, err := Decode(bad, []byte(`{}`)); err == nil {
			t.Errorf("%s: want error", bad)
		}
	}
	if _, err := Decode(gw, []byte(`{"spec":`)); err == nil {
		t.Error("truncated JSON: want error")
	}
}
