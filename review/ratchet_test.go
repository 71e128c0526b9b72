package review

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/validators"
)

var (
	raV1 = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "RequestAuthentication"}
	apV1 = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"}
)

// doc is a JSON object built from YAML-ish Go maps, with edits applied.
func doc(t *testing.T, base string, edits ...func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	for _, e := range edits {
		e(m)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func metadata(m map[string]any) map[string]any {
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		m["metadata"] = md
	}
	return md
}

func labelled(m map[string]any) {
	metadata(m)["labels"] = map[string]any{"team": "a"}
}

func beingDeleted(m map[string]any) {
	md := metadata(m)
	md["deletionTimestamp"] = "2026-12-01T00:00:00Z"
	md["finalizers"] = []any{"gateway.kyma-project.io/subresources"}
}

func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		parts := strings.Split(path, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, _ := cur[p].(map[string]any)
			if next == nil {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
}

// The APIRule's Service "gone" does not exist: every write of it has an
// apirule-service finding.
const ruleNoService = `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":{"name":"r","namespace":"app"},
 "spec":{"hosts":["r.example.com"],"gateway":"kyma-system/kyma-gateway","service":{"name":"gone","port":80},
 "rules":[{"path":"/*","methods":["GET"],"noAuth":true}]}}`

const ruleV1beta1NoService = `{"apiVersion":"gateway.kyma-project.io/v1beta1","kind":"APIRule","metadata":{"name":"old","namespace":"app"},
 "spec":{"host":"old.example.com","gateway":"kyma-system/kyma-gateway","service":{"name":"gone","port":80},
 "rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"allow"}]}]}}`

const raBadHeader = `{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":"ra","namespace":"app"},
 "spec":{"jwtRules":[{"issuer":"issuer-a","jwks":"{\"keys\":[]}","fromHeaders":[{"name":"bad header"}]}]}}`

const apCustomNoProvider = `{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"ap","namespace":"app"},
 "spec":{"action":"CUSTOM","rules":[{"to":[{"operation":{"paths":["/x"]}}]}]}}`

func ratchetReviewer(t *testing.T) *Reviewer {
	t.Helper()
	gw := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "kyma-gateway", Namespace: "kyma-system"},
		Spec: networkingapi.Gateway{Servers: []*networkingapi.Server{{
			Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"*.example.com"},
			Tls: &networkingapi.ServerTLSSettings{Mode: networkingapi.ServerTLSSettings_SIMPLE, CredentialName: "kyma-gateway-certs"}}}}}
	owner := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
		"metadata": map[string]any{"name": "owner", "namespace": "app"},
		"spec":     map[string]any{"hosts": []any{"owner.example.com"}, "gateway": "kyma-system/kyma-gateway"},
	}}
	st, err := cluster.FromObjects(gw, owner, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	return &Reviewer{Config: config.Default(), Cluster: st, Trust: trust.Offline{}}
}

func TestRatchet(t *testing.T) {
	rv := ratchetReviewer(t)
	ownedBy := func(name string) func(map[string]any) {
		return func(m map[string]any) {
			metadata(m)["labels"] = map[string]any{validators.OwnerLabelName: name, validators.OwnerLabelNamespace: "app"}
		}
	}
	type tc struct {
		name      string
		gvk       schema.GroupVersionKind
		op, sub   string
		old, obj  []byte
		deny      string // a check ID that must deny; "": admitted
		note      string // a note some warning must carry
		noPatch   bool
		noFinding bool
	}
	cases := []tc{
		// APIRule v2: its Service went away after admission.
		{name: "apirule create", gvk: apirule.V2, op: "CREATE", obj: doc(t, ruleNoService), deny: "apirule-service"},
		{name: "apirule label update", gvk: apirule.V2, op: "UPDATE", old: doc(t, ruleNoService), obj: doc(t, ruleNoService, labelled),
			note: NoteMetadataOnly, noPatch: true},
		{name: "apirule finalizer removal while deleting", gvk: apirule.V2, op: "UPDATE", old: doc(t, ruleNoService, beingDeleted),
			obj: doc(t, ruleNoService, beingDeleted, set("metadata.finalizers", []any{})), note: NoteDeleting, noPatch: true},
		{name: "apirule spec change keeps the old problem", gvk: apirule.V2, op: "UPDATE", old: doc(t, ruleNoService),
			obj: doc(t, ruleNoService, set("spec.timeout", 30)), note: NotePreexisting},
		{name: "apirule spec change adds a problem", gvk: apirule.V2, op: "UPDATE", old: doc(t, ruleNoService),
			obj: doc(t, ruleNoService, set("spec.gateway", "kyma-system/nope")), deny: "apirule-gateway", note: NotePreexisting},
		{name: "apirule status subresource", gvk: apirule.V2, op: "UPDATE", sub: "status", old: doc(t, ruleNoService),
			obj: doc(t, ruleNoService, set("status.state", "Error")), noPatch: true, noFinding: true},
		// APIRule v1beta1, the same story.
		{name: "v1beta1 create", gvk: apirule.V1beta1, op: "CREATE", obj: doc(t, ruleV1beta1NoService), deny: "service"},
		{name: "v1beta1 label update", gvk: apirule.V1beta1, op: "UPDATE", old: doc(t, ruleV1beta1NoService),
			obj: doc(t, ruleV1beta1NoService, labelled), note: NoteMetadataOnly, noPatch: true},
		{name: "v1beta1 deleting", gvk: apirule.V1beta1, op: "UPDATE", old: doc(t, ruleV1beta1NoService),
			obj: doc(t, ruleV1beta1NoService, beingDeleted), note: NoteDeleting, noPatch: true},
		// Gateway: MUTUAL without a client CA.
		{name: "gateway create", gvk: gatewayV1, op: "CREATE", obj: doc(t, mutualNoCA), deny: "gateway-mtls-credential"},
		{name: "gateway label update", gvk: gatewayV1, op: "UPDATE", old: doc(t, mutualNoCA), obj: doc(t, mutualNoCA, labelled),
			note: NoteMetadataOnly, noPatch: true},
		{name: "gateway deleting", gvk: gatewayV1, op: "UPDATE", old: doc(t, mutualNoCA), obj: doc(t, mutualNoCA, beingDeleted),
			note: NoteDeleting, noPatch: true},
		{name: "gateway spec change keeps the old problem", gvk: gatewayV1, op: "UPDATE", old: doc(t, mutualNoCA),
			obj: doc(t, mutualNoCA, set("spec.selector", map[string]any{"istio": "ingressgateway"})), note: NotePreexisting},
		// RequestAuthentication: an invalid header name.
		{name: "requestauthentication create", gvk: raV1, op: "CREATE", obj: doc(t, raBadHeader), deny: "requestauthentication-header-name"},
		{name: "requestauthentication label update", gvk: raV1, op: "UPDATE", old: doc(t, raBadHeader), obj: doc(t, raBadHeader, labelled),
			note: NoteMetadataOnly},
		{name: "requestauthentication generated for an APIRule", gvk: raV1, op: "CREATE", obj: doc(t, raBadHeader, ownedBy("owner")),
			note: "generated by APIRule app/owner"},
		{name: "requestauthentication claiming a missing APIRule", gvk: raV1, op: "CREATE", obj: doc(t, raBadHeader, ownedBy("nobody")),
			deny: "requestauthentication-header-name"},
		// AuthorizationPolicy: CUSTOM without a provider.
		{name: "authorizationpolicy create", gvk: apV1, op: "CREATE", obj: doc(t, apCustomNoProvider), deny: "authorizationpolicy-custom-provider"},
		{name: "authorizationpolicy deleting", gvk: apV1, op: "UPDATE", old: doc(t, apCustomNoProvider), obj: doc(t, apCustomNoProvider, beingDeleted),
			note: NoteDeleting},
		{name: "authorizationpolicy generated for an APIRule", gvk: apV1, op: "UPDATE", old: doc(t, apCustomNoProvider, ownedBy("owner")),
			obj: doc(t, apCustomNoProvider, ownedBy("owner"), set("spec.rules", []any{})), note: "generated by APIRule app/owner"},
		{name: "authorizationpolicy spec change adds a problem", gvk: apV1, op: "UPDATE",
			old: doc(t, apCustomNoProvider, set("spec.action", "DENY")), obj: doc(t, apCustomNoProvider), deny: "authorizationpolicy-custom-provider"},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &Request{GVK: c.gvk, Namespace: "app", Name: "x", Operation: c.op, SubResource: c.sub, Object: c.obj, OldObject: c.old}
			res := rv.Validate(ctx, req)
			if res.Allowed != (c.deny == "") {
				t.Fatalf("allowed = %v, want %v; violations %v", res.Allowed, c.deny == "", res.Violations)
			}
			if c.deny != "" && !contains(res.Violations, c.deny) {
				t.Errorf("violations %v lack %q", res.Violations, c.deny)
			}
			if c.note != "" && !contains(res.Warnings, c.note) {
				t.Errorf("no warning notes %q: %v", c.note, res.Warnings)
			}
			if c.noFinding && len(res.Warnings)+len(res.Violations) > 0 {
				t.Errorf("want no findings, got %v %v", res.Violations, res.Warnings)
			}
			res.EachCheck(func(id string, r core.Result) {
				if r == core.Denied && res.Allowed {
					t.Errorf("check %s counted as denied on an admitted write", id)
				}
			})
			if c.noPatch {
				if m := rv.Mutate(ctx, req); len(m.Patch) > 0 {
					t.Errorf("mutate patched %v", m.Patch)
				}
			}
		})
	}
}

// A spec change gets its defaults: only writes that leave the spec alone
// (or delete) are left untouched.
func TestRatchetMutateOnSpecChange(t *testing.T) {
	rv := ratchetReviewer(t)
	old := doc(t, mutualNoCA)
	obj := doc(t, mutualNoCA, set("spec.selector", map[string]any{"istio": "ingressgateway"}))
	m := rv.Mutate(context.Background(), &Request{GVK: gatewayV1, Namespace: "app", Name: "g", Operation: "UPDATE", Object: obj, OldObject: old})
	if len(m.Patch) == 0 {
		t.Fatal("a spec update of a TLS server without minProtocolVersion should be defaulted")
	}
}
