package validators

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

// Validate runs every check of the object's kind; findings go to r. Each kind
// has one entry point here, and each entry point calls the groups of checks
// in the files named after what they check.
func Validate(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	switch o := obj.Typed.(type) {
	case *apirule.APIRule:
		validateAPIRule(ctx, o, env, r)
	case *apirule.V1beta1APIRule:
		validateAPIRuleV1beta1(ctx, o, env, r)
	case *networkingv1.Gateway:
		validateGateway(ctx, o, env, r)
	case *securityv1.RequestAuthentication:
		validateRequestAuthentication(ctx, o, env, r)
	case *securityv1.AuthorizationPolicy:
		validateAuthorizationPolicy(ctx, o, env, r)
	}
}

// KindOf names the kind of a decoded object as checks declare it.
func KindOf(typed any) string {
	switch typed.(type) {
	case *apirule.APIRule, *apirule.V1beta1APIRule:
		return core.KindAPIRule
	case *networkingv1.Gateway:
		return core.KindGateway
	case *securityv1.RequestAuthentication:
		return core.KindRequestAuthentication
	case *securityv1.AuthorizationPolicy:
		return core.KindAuthorizationPolicy
	}
	return ""
}
