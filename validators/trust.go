package validators

import (
	"context"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// The trust checks (issuers resolve, JWKS usable) live here.

func validateAPIRuleJWTTrust(ctx context.Context, ar *apirule.APIRule, env *Env, r *Report) {}

func validateAPIRuleV1beta1JWTTrust(ctx context.Context, ar *apirule.V1beta1APIRule, env *Env, r *Report) {
}

func validateRequestAuthenticationTrust(ctx context.Context, ra *securityv1.RequestAuthentication, env *Env, r *Report) {
}
