package apirule

import "strings"

// LegacyGateway turns the v1beta1 forms of a gateway reference
// (`kyma-gateway.kyma-system.svc.cluster.local`) into `namespace/name`, as
// Kyma's conversion does. References already in that form are returned as is.
func LegacyGateway(ref string) string {
	if strings.Contains(ref, "/") {
		return ref
	}
	parts := strings.Split(strings.TrimSuffix(ref, ".svc.cluster.local"), ".")
	if len(parts) == 2 {
		return parts[1] + "/" + parts[0]
	}
	return ref
}

// SplitRef splits `namespace/name`; ok is false for any other form.
func SplitRef(ref string) (namespace, name string, ok bool) {
	ns, n, found := strings.Cut(ref, "/")
	if !found || ns == "" || n == "" || strings.Contains(n, "/") {
		return "", "", false
	}
	return ns, n, true
}
