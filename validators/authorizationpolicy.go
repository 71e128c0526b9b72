package validators

import (
	"context"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

func validateAuthorizationPolicy(ctx context.Context, ap *securityv1.AuthorizationPolicy, env *Env, r *Report) {
}
