package validators

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
)

// The labels Kyma's api-gateway controller puts on the VirtualServices,
// AuthorizationPolicies and RequestAuthentications it creates for an APIRule
// (internal/processing in kyma-project/api-gateway). Since api-gateway 3.5 it
// writes the name/namespace pair; older objects carry only the legacy label,
// whose value is <name>.<namespace>. None of them get an ownerReference when
// the APIRule lives in another namespace, so the labels are what tells.
const (
	OwnerLabelName      = "apirule.gateway.kyma-project.io/name"
	OwnerLabelNamespace = "apirule.gateway.kyma-project.io/namespace"
	LegacyOwnerLabel    = "apirule.gateway.kyma-project.io/v1beta1"
)

// APIRuleOwner names the APIRule (namespace/name) that owns an object: by an
// ownerReference to an APIRule, by Kyma's owner labels, or by the legacy
// label; "" when none does.
func APIRuleOwner(o metav1.Object) string {
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "APIRule" && strings.HasPrefix(ref.APIVersion, apirule.Group+"/") && ref.Name != "" {
			return cluster.NamespaceOrDefault(o.GetNamespace()) + "/" + ref.Name
		}
	}
	labels := o.GetLabels()
	if name := labels[OwnerLabelName]; name != "" {
		ns := labels[OwnerLabelNamespace]
		if ns == "" {
			ns = cluster.NamespaceOrDefault(o.GetNamespace())
		}
		return ns + "/" + name
	}
	// <name>.<namespace>: a namespace has no dots, a name may.
	if v := labels[LegacyOwnerLabel]; v != "" {
		if i := strings.LastIndex(v, "."); i > 0 && i < len(v)-1 {
			return v[i+1:] + "/" + v[:i]
		}
	}
	return ""
}
