package validators

import (
	"context"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

func validateAPIRule(ctx context.Context, ar *apirule.APIRule, env *Env, r *Report) {
	validateAPIRuleJWTTrust(ctx, ar, env, r)
}
