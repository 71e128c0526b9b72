package validators

import (
	"fmt"
	"maps"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	typeapi "istio.io/api/type/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
)

// The *-istio-validation checks port the table of istiod's validating
// webhook (istio/istio pkg/config/validation/validation.go and the helpers
// in pkg/config/validation/agent and pkg/config/security) as small pure
// functions over the istio.io/api types: importing istio.io/istio would pull
// most of istiod into the module. In a cluster istiod's webhook refuses the
// same objects; these checks name the field and the fix, and catch the
// mistakes in `gatewarden check` before anything is applied.
//
// A rule that a dedicated gatewarden check already covers (a TLS setting, a
// header name, a URL) is not repeated when that check reported on the same
// field: one problem, one finding.

// istioRun reports one object's findings of a *-istio-validation check.
type istioRun struct {
	c *core.Check
	r *core.Report
}

// deny reports what istiod refuses, unless a check of covered already
// reported on the same field.
func (v istioRun) deny(err *field.Error, covered ...*core.Check) {
	if !v.covered(err.Field, covered) {
		v.r.Deny(v.c, err)
	}
}

// warn reports what istiod admits with a warning.
func (v istioRun) warn(err *field.Error, covered ...*core.Check) {
	if !v.covered(err.Field, covered) {
		v.r.Warn(v.c, err)
	}
}

func (v istioRun) covered(fld string, checks []*core.Check) bool {
	for _, c := range checks {
		for _, fs := range [][]core.Finding{v.r.Violations, v.r.Warnings} {
			for _, f := range fs {
				if f.Check == c.ID && f.Field == fld {
					return true
				}
			}
		}
	}
	return false
}

// Annotations istiod's webhook looks at on every kind (validateMetadata).
const (
	istioDryRunAnnotation   = "istio.io/dry-run"
	istioAlwaysReject       = "internal.istio.io/webhook-always-reject"
	istioInternalParentNS   = "internal.istio.io/parent-namespace"
	istioInternalParents    = "internal.istio.io/parents"
	istioGatewaySemantics   = "internal.istio.io/gateway-semantics"
	istioGatewaySemanticsGW = "gateway"
)

// metadata runs istiod's validateMetadata. dryRunAction is the policy's
// action for AuthorizationPolicies, "" for kinds that may not carry the
// dry-run annotation.
func (v istioRun) metadata(meta *metav1.ObjectMeta, kind, dryRunAction string) {
	anns := field.NewPath("metadata", "annotations")
	if val, ok := meta.Annotations[istioDryRunAnnotation]; ok {
		p := anns.Key(istioDryRunAnnotation)
		switch dryRunAction {
		case "":
			v.deny(field.Forbidden(p, "istiod supports "+istioDryRunAnnotation+" only on AuthorizationPolicies and refuses a "+kind+" carrying it: remove the annotation"))
		case "ALLOW", "DENY":
			if _, err := strconv.ParseBool(val); err != nil {
				v.deny(field.Invalid(p, val, "not a boolean, so istiod refuses the policy: set \"true\" or \"false\""))
			}
		default:
			v.deny(field.Forbidden(p, "istiod supports "+istioDryRunAnnotation+" only with action ALLOW or DENY and refuses it with "+dryRunAction+": remove the annotation"))
		}
	}
	if _, ok := meta.Annotations[istioAlwaysReject]; ok {
		v.deny(field.Forbidden(anns.Key(istioAlwaysReject), "istiod's webhook refuses every object carrying this internal annotation: remove it"))
	}
	for _, a := range []string{istioInternalParentNS, istioInternalParents} {
		if _, ok := meta.Annotations[a]; ok {
			v.deny(field.Forbidden(anns.Key(a), "an istiod-internal annotation that grants privileges, which istiod refuses on user objects: remove it"))
		}
	}
}

// selectorAndTargets runs validateOneOfSelectorType, validateWorkloadSelector
// and validatePolicyTargetReference(s) of a policy's spec.
func (v istioRun) selectorAndTargets(sel *typeapi.WorkloadSelector, one *typeapi.PolicyTargetReference, many []*typeapi.PolicyTargetReference) {
	spec := field.NewPath("spec")
	set := 0
	if sel != nil {
		set++
	}
	if one != nil {
		set++
	}
	if len(many) > 0 {
		set++
	}
	if set > 1 {
		p := spec.Child("targetRefs")
		if len(many) == 0 {
			p = spec.Child("targetRef")
		}
		v.deny(field.Forbidden(p, "istiod refuses a policy that sets more than one of selector, targetRef and targetRefs: keep the selector for sidecars, or targetRefs for gateways and waypoints"))
	}
	if sel != nil {
		lp := spec.Child("selector", "matchLabels")
		for _, k := range sortedKeys(sel.MatchLabels) {
			val := sel.MatchLabels[k]
			switch {
			case k == "":
				v.deny(field.Invalid(lp, "="+val, "empty label key; istiod refuses it: name the label"))
			case strings.Contains(k, "*") || strings.Contains(val, "*"):
				v.deny(field.Invalid(lp.Key(k), val, "istiod refuses wildcards in a workload selector: use the exact label value"))
			}
		}
		if len(sel.MatchLabels) == 0 {
			v.warn(field.Required(lp, "a selector without labels selects every workload of the namespace, as no selector does; istiod warns: remove the selector or add labels"))
		}
	}
	if one != nil {
		v.targetRef(one, spec.Child("targetRef"))
	}
	for i, t := range many {
		if t != nil {
			v.targetRef(t, spec.Child("targetRefs").Index(i))
		}
	}
}

// istioTargetKinds are the kinds a policy targetRef may name, by group.
var istioTargetKinds = []struct{ group, kind string }{
	{"core", "Service"},
	{"networking.istio.io", "ServiceEntry"},
	{"gateway.networking.k8s.io", "Gateway"},
	{"gateway.networking.k8s.io", "GatewayClass"},
}

func (v istioRun) targetRef(t *typeapi.PolicyTargetReference, p *field.Path) {
	if t.Name == "" {
		v.deny(field.Required(p.Child("name"), "istiod refuses a targetRef without name: name the Service, ServiceEntry, Gateway or GatewayClass"))
	}
	if t.Namespace != "" {
		v.deny(field.Forbidden(p.Child("namespace"), "istiod does not support cross-namespace targetRefs and refuses them: remove namespace and put the policy in the target's namespace"))
	}
	group := t.Group
	if group == "" {
		group = "core"
	}
	for _, k := range istioTargetKinds {
		if k.group == group && k.kind == t.Kind {
			return
		}
	}
	v.deny(field.Invalid(p.Child("kind"), t.Group+"/"+t.Kind,
		"istiod refuses this target: name a Service (group \"\"), a ServiceEntry (networking.istio.io), or a Gateway or GatewayClass (gateway.networking.k8s.io)"))
}

// istioDNSLabel is a DNS-1123 label as istiod checks it (pkg/config/labels):
// letters of either case are accepted.
var (
	istioDNSLabel         = regexp.MustCompile(`^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
	istioWildcardDNSLabel = regexp.MustCompile(`^(\*|(\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$`)
)

const istioDNSLabelMax = 63

func isIstioDNSLabel(s string) bool {
	return len(s) <= istioDNSLabelMax && istioDNSLabel.MatchString(s)
}

func isIstioWildcardDNSLabel(s string) bool {
	return len(s) <= istioDNSLabelMax && istioWildcardDNSLabel.MatchString(s)
}

// istioDNSLabels is agent.ValidateDNS1123Labels: dot-separated labels, a
// top-level label that is not all digits, a trailing dot allowed.
func istioDNSLabels(domain string) string {
	parts := strings.Split(domain, ".")
	if _, err := strconv.Atoi(parts[len(parts)-1]); err == nil {
		return fmt.Sprintf("top-level domain %q is all digits", parts[len(parts)-1])
	}
	for i, label := range parts {
		if i == len(parts)-1 && label == "" {
			return ""
		}
		if !isIstioDNSLabel(label) {
			return fmt.Sprintf("label %q is not a DNS label (letters, digits and '-', at most 63 characters)", label)
		}
	}
	return ""
}

// istioWildcardDomain is agent.ValidateWildcardDomain: a domain name whose
// first label may be a wildcard.
func istioWildcardDomain(domain string) string {
	switch {
	case len(domain) > 255:
		return "longer than 255 characters"
	case domain == "":
		return "empty"
	}
	first, rest, more := strings.Cut(domain, ".")
	if !isIstioWildcardDNSLabel(first) {
		return fmt.Sprintf("label %q is not a DNS label or wildcard", first)
	}
	if more {
		return istioDNSLabels(rest)
	}
	return ""
}

func isIstioIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.IsValid()
}

// istioUnixAddress is ValidateUnixAddress: an absolute file path, or an
// abstract socket starting with @.
func istioUnixAddress(addr string) string {
	switch {
	case addr == "":
		return "empty unix socket address"
	case strings.HasPrefix(addr, "@"):
		return ""
	case !path.IsAbs(addr) || strings.HasSuffix(addr, "/"):
		return addr + " is not an absolute path to a file"
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
