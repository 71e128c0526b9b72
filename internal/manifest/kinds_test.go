package manifest

import (
	"strings"
	"testing"
)

// TestReadRefusesWhatCheckWouldSkip: documents check used to skip without
// a word (no apiVersion, a misspelt group or kind) are errors naming the
// file, the line and the document's position.
func TestReadRefusesWhatCheckWouldSkip(t *testing.T) {
	const good = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"no apiVersion", "kind: RequestAuthentication\nmetadata: {name: r}\n",
			[]string{"<stdin>:5 (document 2): no apiVersion"}},
		{"no kind", "apiVersion: security.istio.io/v1\nmetadata: {name: r}\n",
			[]string{"<stdin>:5 (document 2): no kind"}},
		{"empty kind", "apiVersion: security.istio.io/v1\nkind: ''\nmetadata: {name: r}\n",
			[]string{"(document 2): kind  is not a name"}},
		{"kind misspelt", "apiVersion: gateway.kyma-project.io/v2\nkind: APIRul\nmetadata: {name: r}\n",
			[]string{"(document 2): kind APIRul does not exist in gateway.kyma-project.io; did you mean APIRule?"}},
		{"kind in another case", "apiVersion: security.istio.io/v1\nkind: Requestauthentication\nmetadata: {name: r}\n",
			[]string{"did you mean RequestAuthentication?"}},
		{"kind that exists nowhere", "apiVersion: networking.istio.io/v1\nkind: Frobnicator\nmetadata: {name: r}\n",
			[]string{"kind Frobnicator does not exist in networking.istio.io; its kinds are", "Gateway", "VirtualService"}},
		{"version that does not exist", "apiVersion: security.istio.io/v2\nkind: AuthorizationPolicy\nmetadata: {name: r}\n",
			[]string{"apiVersion security.istio.io/v2: AuthorizationPolicy has no version v2; use one of v1, v1beta1"}},
		{"group misspelt", "apiVersion: networking.isito.io/v1\nkind: Gateway\nmetadata: {name: g}\n",
			[]string{"apiVersion networking.isito.io/v1: no such API group; did you mean networking.istio.io/v1?"}},
		{"group in another case", "apiVersion: Security.Istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r}\n",
			[]string{"did you mean security.istio.io/v1?"}},
		{"list item without kind", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n- apiVersion: security.istio.io/v1\n  metadata: {name: r}\n",
			[]string{"<stdin>:5 (document 2): items[1]: no kind"}},
		{"list item misspelt", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: gateway.kyma-project.io/v2\n  kind: ApiRule\n  metadata: {name: r}\n",
			[]string{"(document 2): items[0]: kind ApiRule does not exist", "did you mean APIRule?"}},
		{"a list, not an object", "- a\n- b\n", []string{"(document 2): not a Kubernetes object", "found a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read([]string{"-"}, strings.NewReader(good+tt.doc))
			if err == nil {
				t.Fatal("read without error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestReadAcceptsOtherGroups: other APIs, other Istio groups, and every
// served version of the checked kinds are read as before.
func TestReadAcceptsOtherGroups(t *testing.T) {
	docs := []string{
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n",
		"apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\n",
		"apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: i}\n",
		"apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\n",
		"apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: e}\n",
		"apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: g}\n",
		"apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: p}\n",
		"apiVersion: gateway.kyma-project.io/v1beta1\nkind: APIRule\nmetadata: {name: r}\n",
		"apiVersion: gateway.kyma-project.io/v2alpha1\nkind: APIRule\nmetadata: {name: r}\n",
		"apiVersion: networking.istio.io/v1\nkind: GatewayList\nitems: []\n",
	}
	objs, err := Read([]string{"-"}, strings.NewReader(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(docs)-1 {
		t.Errorf("read %d objects, want %d", len(objs), len(docs)-1)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"apirul", "apirule", 1}, {"isito", "istio", 2}, {"kitten", "sitting", 3}} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}
