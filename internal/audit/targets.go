// Package audit re-validates the objects already stored in a cluster: the
// webhook sees an object only when it is written, but the secrets, services
// and issuers it depends on change later. The audit runs the same checks
// (review.Reviewer.Validate) on an interval and after dependencies change,
// and reports what it finds as OpenReports or PolicyReports, Events and
// metrics. The live `gatewarden check --kubeconfig` shares the listing and
// checking code.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/review"
)

// The versions the audit reads. The API server serves every stored object in
// every version of its kind, so one version per kind sees them all once.
var (
	GatewayV1               = networkingv1.SchemeGroupVersion.WithKind("Gateway")
	RequestAuthenticationV1 = securityv1.SchemeGroupVersion.WithKind("RequestAuthentication")
	AuthorizationPolicyV1   = securityv1.SchemeGroupVersion.WithKind("AuthorizationPolicy")
)

// Target is one stored object to check.
type Target struct {
	// GVK is the version the object is checked as: v2 for APIRules (v1beta1
	// when a rule read as v2 still has the v1beta1 shape), v1 for Istio kinds.
	GVK schema.GroupVersionKind
	// Object carries the GVK, so events and report entries can refer to it.
	Object client.Object
	// Raw is the object as JSON, as the webhook would receive it.
	Raw []byte
}

// Request is the review request for the target.
func (t Target) Request(operation string) *review.Request {
	return &review.Request{GVK: t.GVK, Namespace: t.Object.GetNamespace(), Name: t.Object.GetName(), Operation: operation, Object: t.Raw}
}

// List reads every APIRule, Gateway, RequestAuthentication and
// AuthorizationPolicy in namespace ("" for all), sorted by namespace, kind
// and name. Kinds not installed in the cluster are skipped; other errors
// (forbidden, unreachable) are returned.
func List(ctx context.Context, r client.Reader, namespace string) ([]Target, error) {
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	var out []Target
	add := func(gvk schema.GroupVersionKind, o client.Object) error {
		o.GetObjectKind().SetGroupVersionKind(gvk)
		raw, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("encoding %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
		out = append(out, Target{GVK: gvk, Object: o, Raw: raw})
		return nil
	}

	rules := &unstructured.UnstructuredList{}
	rules.SetGroupVersionKind(apirule.V2.GroupVersion().WithKind("APIRuleList"))
	if err := list(ctx, r, rules, opts, "APIRules"); err != nil {
		return nil, err
	}
	for i := range rules.Items {
		u := &rules.Items[i]
		gvk := apirule.V2
		// Without Kyma's conversion webhook a v1beta1 rule read as v2 keeps
		// its v1beta1 fields; check it as what it is.
		if _, legacy, _ := unstructured.NestedString(u.Object, "spec", "host"); legacy {
			gvk = apirule.V1beta1
		}
		// A copy: serve's cache hands out APIRules without copying them,
		// and add sets the kind.
		if err := add(gvk, u.DeepCopy()); err != nil {
			return nil, err
		}
	}

	var gws networkingv1.GatewayList
	if err := list(ctx, r, &gws, opts, "Gateways"); err != nil {
		return nil, err
	}
	for _, o := range gws.Items {
		if err := add(GatewayV1, o.DeepCopy()); err != nil {
			return nil, err
		}
	}
	var ras securityv1.RequestAuthenticationList
	if err := list(ctx, r, &ras, opts, "RequestAuthentications"); err != nil {
		return nil, err
	}
	for _, o := range ras.Items {
		if err := add(RequestAuthenticationV1, o.DeepCopy()); err != nil {
			return nil, err
		}
	}
	var aps securityv1.AuthorizationPolicyList
	if err := list(ctx, r, &aps, opts, "AuthorizationPolicies"); err != nil {
		return nil, err
	}
	for _, o := range aps.Items {
		if err := add(AuthorizationPolicyV1, o.DeepCopy()); err != nil {
			return nil, err
		}
	}

	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Object, out[j].Object
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		if out[i].GVK.Kind != out[j].GVK.Kind {
			return out[i].GVK.Kind < out[j].GVK.Kind
		}
		return a.GetName() < b.GetName()
	})
	return out, nil
}

func list(ctx context.Context, r client.Reader, l client.ObjectList, opts []client.ListOption, what string) error {
	err := r.List(ctx, l, opts...)
	if err == nil || notInstalled(err) {
		return nil
	}
	return fmt.Errorf("listing %s: %w", what, err)
}

// notInstalled reports errors that mean the kind does not exist here.
func notInstalled(err error) bool {
	if err == nil {
		return false
	}
	if meta.IsNoMatchError(err) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "no matches for kind") || strings.Contains(s, "no kind is registered")
}
