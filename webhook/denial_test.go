package webhook

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/core"
)

// The denial reads like the API server's own validation errors, which
// kubectl prints as they are.
func TestDenialMessage(t *testing.T) {
	gw := schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}
	tls := core.Finding{Check: "gateway-tls", Field: "spec.servers[0].tls.credentialName", Message: "MUTUAL needs a credential"}
	noted := core.Finding{Check: "gateway-ca", Field: "spec.servers[1].tls", Message: "no CA", Note: "predates the update"}
	fieldless := core.Finding{Check: "apirule-hosts", Message: "no host"}
	cases := []struct {
		name string
		vs   []core.Finding
		want string
	}{
		{"g", []core.Finding{tls}, `Gateway "g" is invalid: spec.servers[0].tls.credentialName: MUTUAL needs a credential [gateway-tls]`},
		{"g", []core.Finding{tls, noted}, `Gateway "g" is invalid: [spec.servers[0].tls.credentialName: MUTUAL needs a credential [gateway-tls], ` +
			`spec.servers[1].tls: no CA [gateway-ca] (predates the update)]`},
		{`q"t`, []core.Finding{fieldless}, `Gateway "q\"t" is invalid: no host [apirule-hosts]`},
		{"", nil, `Gateway "" is invalid: `},
	}
	for _, tc := range cases {
		if got := DenialMessage(gw, tc.name, tc.vs); got != tc.want {
			t.Errorf("DenialMessage(%q, %d findings):\n got %s\nwant %s", tc.name, len(tc.vs), got, tc.want)
		}
		for _, v := range tc.vs {
			if got, want := v.String(), v.Field; want != "" && got[:len(want)] != want {
				t.Errorf("%+v.String() = %q, want it to start with its field", v, got)
			}
		}
	}
}
