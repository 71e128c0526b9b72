package validators

import (
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGatewayMutualCredential(t *testing.T) {
	gw := func(tls *networkingapi.ServerTLSSettings) *networkingv1.Gateway {
		return &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "default"},
			Spec: networkingapi.Gateway{Servers: []*networkingapi.Server{{
				Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"a.example.com"}, Tls: tls}}}}
	}
	cases := []struct {
		name string
		tls  *networkingapi.ServerTLSSettings
		deny bool
	}{
		{"mutual without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_MUTUAL}, true},
		{"optional mutual without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_OPTIONAL_MUTUAL}, true},
		{"mutual with caCertificates", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_MUTUAL, CaCertificates: "/etc/ca.pem"}, false},
		{"simple without CA", &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, gw(tc.tls), nil)
			got := hasFinding(r.Violations, GatewayMutualCredential.ID, "spec.servers[0].tls.credentialName")
			if got != tc.deny {
				t.Fatalf("denied=%v, want %v: %v", got, tc.deny, r.Violations)
			}
		})
	}
}
