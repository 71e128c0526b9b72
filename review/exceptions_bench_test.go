package review

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
)

// BenchmarkExceptions measures what exceptions add to the review of an
// object with a finding (a clean object never reads them): none in the
// namespace, and 200 of which one covers the finding. The state is the
// map-backed reader, as serve's cache answers from memory too.
func BenchmarkExceptions(b *testing.B) {
	obj := []byte(ruleNoService)
	for _, n := range []int{0, 200} {
		b.Run(fmt.Sprintf("exceptions=%d", n), func(b *testing.B) {
			var objs []runtime.Object
			for i := range n {
				name := fmt.Sprintf("other-%d", i)
				if i == n-1 {
					name = "r"
				}
				objs = append(objs, gwException(fmt.Sprintf("e%d", i), []string{"apirule-service", "apirule-gateway"},
					exception.Target{Kind: core.KindAPIRule, Name: name}, exceptionNow, exceptionNow.Add(24*time.Hour)))
			}
			rv := exceptionReviewer(b, nil, objs...)
			req := &Request{GVK: apirule.V2, Namespace: "app", Name: "r", Operation: "CREATE", Object: obj}
			if res := rv.Validate(context.Background(), req); res.Allowed != (n > 0) {
				b.Fatalf("allowed %v with %d exceptions", res.Allowed, n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rv.Validate(context.Background(), req)
			}
		})
	}
}
