package validators

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// testNow is the fixed clock of every validator test.
var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// run validates typed (a decoded object) against the given cluster objects
// with default policy; tr may be nil for trust.Offline.
func run(t *testing.T, typed any, tr trust.Resolver, objs ...runtime.Object) *core.Report {
	t.Helper()
	st, err := cluster.FromObjects(objs...)
	if err != nil {
		t.Fatal(err)
	}
	if tr == nil {
		tr = trust.Offline{}
	}
	r := core.NewReport(core.DefaultPolicy)
	Validate(context.Background(), &core.Object{Namespace: "default", Name: "x", Operation: "CREATE", Typed: typed},
		&core.Env{Cluster: st, Trust: tr, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return testNow }}, r)
	return r
}

// summary renders findings as "check field" lines, sorted, for table tests.
func summary(fs []core.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Check+" "+f.Field)
	}
	sort.Strings(out)
	return out
}

// hasFinding reports whether some finding has the check, field and a message
// containing every fragment.
func hasFinding(fs []core.Finding, check, fld string, fragments ...string) bool {
	for _, f := range fs {
		if f.Check != check || f.Field != fld {
			continue
		}
		ok := true
		for _, frag := range fragments {
			if !strings.Contains(f.Message, frag) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Validate runs the checks of obj's kind, as the table of kinds in
// review does for the version it decoded.
func Validate(ctx context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	switch obj.Typed.(type) {
	case *apirule.APIRule:
		APIRule(ctx, obj, env, r)
	case *apirule.V1beta1APIRule:
		APIRuleV1beta1(ctx, obj, env, r)
	case *networkingv1.Gateway:
		Gateway(ctx, obj, env, r)
	case *securityv1.RequestAuthentication:
		RequestAuthentication(ctx, obj, env, r)
	case *securityv1.AuthorizationPolicy:
		AuthorizationPolicy(ctx, obj, env, r)
	}
}
