package validators

import (
	"context"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

func validateRequestAuthentication(ctx context.Context, ra *securityv1.RequestAuthentication, env *Env, r *Report) {
	validateRequestAuthenticationTrust(ctx, ra, env, r)
}
