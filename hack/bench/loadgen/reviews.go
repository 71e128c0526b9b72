package loadgen

import (
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// The objects below assume the cluster state of examples/demo/00-setup.yaml:
// Gateway kyma-system/kyma-gateway serving *.local.kyma.dev and Service
// default/httpbin with port 8000 (SetupObjects returns them).

// APIRuleV2 is an APIRule v2 exposing default/httpbin with one jwt rule
// (issuer and jwksUri set, jwksUri being <issuer>/jwks as the framework's
// issuers publish it) and one noAuth rule.
func APIRuleV2(name, host, issuer string) map[string]any {
	return map[string]any{
		"apiVersion": "gateway.kyma-project.io/v2",
		"kind":       "APIRule",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"hosts":   []any{host},
			"gateway": "kyma-system/kyma-gateway",
			"service": map[string]any{"name": "httpbin", "port": int64(8000)},
			"rules": []any{
				map[string]any{
					"path": "/api/{**}", "methods": []any{"GET", "POST"},
					"jwt": map[string]any{"authentications": []any{
						map[string]any{"issuer": issuer, "jwksUri": issuer + "/jwks"},
					}},
				},
				map[string]any{"path": "/health", "methods": []any{"GET"}, "noAuth": true},
			},
		},
	}
}

// MutualGatewayWithoutCA is the request the reference measurements of the
// admission floor and of OPA Gatekeeper on a 2-core machine were made with:
// a Gateway whose only server has tls.mode MUTUAL and neither
// credentialName nor caCertificates. gatewarden denies it.
func MutualGatewayWithoutCA(name string) map[string]any {
	return map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"selector": map[string]any{"istio": "ingressgateway"},
			"servers": []any{map[string]any{
				"port":  map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"},
				"hosts": []any{"bench.example.com"},
				"tls":   map[string]any{"mode": "MUTUAL"},
			}},
		},
	}
}

// AuthorizationPolicy allows the ingress gateway to GET /api/* on httpbin.
func AuthorizationPolicy(name string) map[string]any {
	return map[string]any{
		"apiVersion": "security.istio.io/v1",
		"kind":       "AuthorizationPolicy",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "httpbin"}},
			"action":   "ALLOW",
			"rules": []any{map[string]any{
				"from": []any{map[string]any{"source": map[string]any{
					"principals": []any{"cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"},
				}}},
				"to": []any{map[string]any{"operation": map[string]any{
					"methods": []any{"GET"}, "paths": []any{"/api/*"},
				}}},
			}},
		},
	}
}

// SetupObjects is the cluster state the objects above refer to.
func SetupObjects() []map[string]any {
	return []map[string]any{
		{
			"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
			"metadata": map[string]any{"name": "kyma-gateway", "namespace": "kyma-system"},
			"spec": map[string]any{
				"selector": map[string]any{"istio": "ingressgateway"},
				"servers": []any{map[string]any{
					"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
					"hosts": []any{"*.local.kyma.dev"},
				}},
			},
		},
		{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "httpbin", "namespace": "default"},
			"spec": map[string]any{
				"selector": map[string]any{"app": "httpbin"},
				"ports":    []any{map[string]any{"name": "http", "port": int64(8000), "targetPort": int64(80)}},
			},
		},
	}
}

// resources maps the kinds above to their resource names.
var resources = map[string]string{"APIRule": "apirules", "Gateway": "gateways", "AuthorizationPolicy": "authorizationpolicies"}

// Review wraps obj in an AdmissionReview v1 request for a CREATE, as the
// kube-apiserver sends it, with UIDPlaceholder as its UID.
func Review(obj map[string]any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	gv, err := parseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	res, ok := resources[kind]
	if !ok {
		return nil, fmt.Errorf("loadgen: no resource name known for kind %s", kind)
	}
	gvk := metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: kind}
	gvr := metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: res}
	opts, _ := json.Marshal(map[string]any{"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"})
	dryRun := false
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID(UIDPlaceholder),
			Kind:            gvk,
			Resource:        gvr,
			RequestKind:     &gvk,
			RequestResource: &gvr,
			Name:            name,
			Namespace:       ns,
			Operation:       admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{
				Username: "kubernetes-admin",
				Groups:   []string{"kubeadm:cluster-admins", "system:authenticated"},
			},
			Object:  runtime.RawExtension{Raw: raw},
			DryRun:  &dryRun,
			Options: runtime.RawExtension{Raw: opts},
		},
	}
	return json.Marshal(rev)
}

type groupVersion struct{ Group, Version string }

func parseGroupVersion(apiVersion string) (groupVersion, error) {
	for i := len(apiVersion) - 1; i >= 0; i-- {
		if apiVersion[i] == '/' {
			return groupVersion{apiVersion[:i], apiVersion[i+1:]}, nil
		}
	}
	if apiVersion == "" {
		return groupVersion{}, fmt.Errorf("loadgen: object has no apiVersion")
	}
	return groupVersion{"", apiVersion}, nil
}

// Mix is the default request mix: an APIRule v2 with a jwt rule for issuer,
// the anchors' MUTUAL Gateway without a CA, and an AuthorizationPolicy, each
// sent to /mutate and /validate as the kube-apiserver calls both.
func Mix(issuer string) ([]Request, error) {
	objs := []struct {
		name string
		obj  map[string]any
	}{
		{"APIRule", APIRuleV2("bench-apirule", "bench.local.kyma.dev", issuer)},
		{"Gateway", MutualGatewayWithoutCA("bench-gateway")},
		{"AuthorizationPolicy", AuthorizationPolicy("bench-policy")},
	}
	var out []Request
	for _, path := range []string{"/mutate", "/validate"} {
		for _, o := range objs {
			body, err := Review(o.obj)
			if err != nil {
				return nil, err
			}
			out = append(out, Request{Name: o.name + " " + path, Path: path, Body: body})
		}
	}
	return out, nil
}
