package apirule

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Decode reads any APIRule version. v2 and v2alpha1 return *APIRule, v1beta1
// returns *V1beta1APIRule. Unknown fields are ignored.
func Decode(version string, raw []byte) (any, error) {
	switch version {
	case V2.Version, V2alpha1.Version:
		r := &APIRule{}
		return r, json.Unmarshal(raw, r)
	case V1beta1.Version:
		r := &V1beta1APIRule{}
		return r, json.Unmarshal(raw, r)
	}
	return nil, fmt.Errorf("unknown APIRule version %q", version)
}

// FromUnstructured reads a stored APIRule in the v2 shape, whatever version
// it was read in.
func FromUnstructured(u *unstructured.Unstructured) (*APIRule, error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	version := u.GroupVersionKind().Version
	// Without Kyma's conversion webhook (the CRD's strategy None), a v1beta1
	// object read as v2 keeps its v1beta1 fields: go by shape, not by label.
	if LegacyShape(u) {
		version = V1beta1.Version
	}
	return decodeAs(version, raw)
}

// decodeAs decodes raw in version and gives its v2 view.
func decodeAs(version string, raw []byte) (*APIRule, error) {
	obj, err := Decode(version, raw)
	if err != nil {
		return nil, err
	}
	switch r := obj.(type) {
	case *APIRule:
		return r, nil
	case *V1beta1APIRule:
		return r.Upgrade(), nil
	}
	return nil, fmt.Errorf("unexpected %T", obj)
}

// V1beta1ShortHostGateway is the gateway whose domain Kyma gives a v1beta1
// APIRule's short host.
const V1beta1ShortHostGateway = "kyma-system/kyma-gateway"

// Upgrade gives the v2 view of a v1beta1 rule's host, gateway, services and
// rule paths, which is what the checks of references (gateway, hosts,
// services) judge. Access strategies have no v2 form here: their checks
// read the v1beta1 object.
func (r *V1beta1APIRule) Upgrade() *APIRule {
	out := &APIRule{TypeMeta: r.TypeMeta, ObjectMeta: r.ObjectMeta, ShortHostGateway: V1beta1ShortHostGateway}
	out.APIVersion = V2.GroupVersion().String()
	if r.Spec.Host != nil {
		out.Spec.Hosts = []string{*r.Spec.Host}
	}
	out.Spec.Service = r.Spec.Service
	if r.Spec.Gateway != nil {
		g := LegacyGateway(*r.Spec.Gateway)
		// A bare name is a Gateway in the APIRule's namespace, as Istio
		// reads a VirtualService's gateways.
		if g != "" && !strings.ContainsAny(g, "/.") {
			ns := r.Namespace
			if ns == "" {
				ns = "default"
			}
			g = ns + "/" + g
		}
		out.Spec.Gateway = &g
	}
	out.Spec.Timeout = r.Spec.Timeout
	for _, rule := range r.Spec.Rules {
		out.Spec.Rules = append(out.Spec.Rules, Rule{Path: rule.Path, Service: rule.Service, Methods: rule.Methods, Timeout: rule.Timeout})
	}
	return out
}
