// Package object knows which kinds and versions gatewarden handles and
// decodes them from raw JSON into typed objects. Decoding ignores unknown
// fields: the API server has already checked the object against its schema,
// and a newer CRD must not make the webhook fail.
package object

import (
	"encoding/json"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// Resource is one kind as the webhook configurations name it.
type Resource struct {
	Group    string
	Kind     string
	Resource string
	Versions []string
}

// Resources are the kinds gatewarden intercepts, with every served version.
var Resources = []Resource{
	{Group: apirule.Group, Kind: "APIRule", Resource: "apirules", Versions: []string{"v2", "v2alpha1", "v1beta1"}},
	{Group: "networking.istio.io", Kind: "Gateway", Resource: "gateways", Versions: []string{"v1", "v1beta1", "v1alpha3"}},
	{Group: "security.istio.io", Kind: "RequestAuthentication", Resource: "requestauthentications", Versions: []string{"v1", "v1beta1"}},
	{Group: "security.istio.io", Kind: "AuthorizationPolicy", Resource: "authorizationpolicies", Versions: []string{"v1", "v1beta1"}},
}

// Lookup finds the resource of a group and kind.
func Lookup(gk schema.GroupKind) (Resource, bool) {
	for _, r := range Resources {
		if r.Group == gk.Group && r.Kind == gk.Kind {
			return r, true
		}
	}
	return Resource{}, false
}

// Known says whether the kind is ours and the version one we understand.
func Known(gvk schema.GroupVersionKind) bool {
	r, ok := Lookup(gvk.GroupKind())
	if !ok {
		return false
	}
	for _, v := range r.Versions {
		if v == gvk.Version {
			return true
		}
	}
	return false
}

// Handled says whether the kind is one gatewarden intercepts (any version).
func Handled(gk schema.GroupKind) bool {
	_, ok := Lookup(gk)
	return ok
}

// Decode reads a known kind into its Go type: *apirule.APIRule (v2,
// v2alpha1), *apirule.V1beta1APIRule, *networkingv1.Gateway,
// *securityv1.RequestAuthentication or *securityv1.AuthorizationPolicy.
// Istio's versions share one schema, so every version decodes into v1.
func Decode(gvk schema.GroupVersionKind, raw []byte) (any, error) {
	if !Known(gvk) {
		return nil, fmt.Errorf("%s is not a kind and version gatewarden knows", gvk)
	}
	var obj any
	switch gvk.Kind {
	case "APIRule":
		return apirule.Decode(gvk.Version, raw)
	case "Gateway":
		obj = &networkingv1.Gateway{}
	case "RequestAuthentication":
		obj = &securityv1.RequestAuthentication{}
	case "AuthorizationPolicy":
		obj = &securityv1.AuthorizationPolicy{}
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	return obj, nil
}
