package validators

import (
	"context"
	"fmt"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

var RequestAuthenticationSelectorNoWorkload = core.Register(core.Check{
	ID:          "requestauthentication-selector-no-workload",
	Kinds:       []string{core.KindRequestAuthentication},
	Default:     core.Warn,
	Description: "selector.matchLabels match at least one pod",
	Runtime:     "istio/istio pilot/pkg/model/policyattachment.go WorkloadPolicyMatcher.ShouldAttachPolicy",
})

var RequestAuthenticationHeaderName = core.Register(core.Check{
	ID:          "requestauthentication-header-name",
	Kinds:       []string{core.KindRequestAuthentication},
	Default:     core.Deny,
	Description: "jwtRules fromHeaders, outputPayloadToHeader and outputClaimToHeaders name valid HTTP header names (RFC 7230 tokens)",
	Runtime:     "istio/istio pkg/config/validation/validation.go validateJwtRule; envoy jwt_authn (token header never found)",
})

// RequestAuthentication validates an Istio RequestAuthentication (every
// served version decodes into v1); its issuer and key checks are in trust.go,
// istiod's own validation in istio_requestauthentication.go.
func RequestAuthentication(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	ra := obj.Typed.(*securityv1.RequestAuthentication)
	validateRequestAuthenticationTrust(ctx, ra, env, r)
	validateReqAuthnSelector(ctx, ra, env, r)
	validateReqAuthnHeaderNames(ra, r)
	// Last: it leaves out what the checks above reported on the same field.
	validateRequestAuthenticationIstio(ra, r)
}

func validateReqAuthnSelector(ctx context.Context, ra *securityv1.RequestAuthentication, env *core.Env, r *core.Report) {
	sel := authzLabels(ra.Spec.Selector)
	if len(sel) == 0 {
		return
	}
	ns := cluster.NamespaceOrDefault(ra.Namespace)
	// Only the root namespace matters here; when the mesh config is not
	// readable, istiod's default applies.
	mesh, _ := env.Cluster.Mesh(ctx)
	authzSelectorMatchesNothing(ctx, RequestAuthenticationSelectorNoWorkload, sel, ns, authzRootNamespace(mesh), env.Cluster, r)
}

func validateReqAuthnHeaderNames(ra *securityv1.RequestAuthentication, r *core.Report) {
	rules := field.NewPath("spec", "jwtRules")
	for i, jr := range ra.Spec.JwtRules {
		if jr == nil {
			continue
		}
		p := rules.Index(i)
		for j, h := range jr.FromHeaders {
			if h != nil {
				reqAuthnHeader(p.Child("fromHeaders").Index(j).Child("name"), h.Name, r)
			}
		}
		if jr.OutputPayloadToHeader != "" {
			reqAuthnHeader(p.Child("outputPayloadToHeader"), jr.OutputPayloadToHeader, r)
		}
		for j, c := range jr.OutputClaimToHeaders {
			if c != nil {
				reqAuthnHeader(p.Child("outputClaimToHeaders").Index(j).Child("header"), c.Header, r)
			}
		}
	}
}

func reqAuthnHeader(p *field.Path, name string, r *core.Report) {
	if why := httpHeaderNameProblem(name); why != "" {
		r.Deny(RequestAuthenticationHeaderName, field.Invalid(p, name, why))
	}
}

// httpHeaderNameProblem says why name is not an RFC 7230 token, or "".
func httpHeaderNameProblem(name string) string {
	const allowed = "use letters, digits and !#$%&'*+-.^_`|~ only"
	if name == "" {
		return "empty header name: " + allowed
	}
	for i := 0; i < len(name); i++ {
		if !isHTTPTokenChar(name[i]) {
			return fmt.Sprintf("%q at position %d is not allowed in an HTTP header name: %s", name[i:i+1], i+1, allowed)
		}
	}
	return ""
}

func isHTTPTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
