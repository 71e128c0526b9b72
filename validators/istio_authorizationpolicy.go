package validators

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
)

var AuthorizationPolicyIstioValidation = core.Register(core.Check{
	ID:          "authorizationpolicy-istio-validation",
	Kinds:       []string{core.KindAuthorizationPolicy},
	Default:     core.Deny,
	Description: "what istiod's AuthorizationPolicy validation refuses is denied (CUSTOM and DENY without rules, provider on other actions, empty or unsupported from/to/when, bad IPs, ports, paths and keys, selector with targetRefs, dry-run on CUSTOM), what it warns about is a warning",
	Runtime:     "istio/istio pkg/config/validation/validation.go ValidateAuthorizationPolicy, validateMetadata",
})

// validateAuthorizationPolicyIstio runs istiod's ValidateAuthorizationPolicy
// and validateMetadata on ap.
func validateAuthorizationPolicyIstio(ap *securityv1.AuthorizationPolicy, r *core.Report) {
	v := istioRun{c: AuthorizationPolicyIstioValidation, r: r}
	if !r.Enabled(v.c) {
		return
	}
	spec := &ap.Spec
	v.metadata(&ap.ObjectMeta, core.KindAuthorizationPolicy, spec.Action.String())
	v.selectorAndTargets(spec.Selector, spec.TargetRef, spec.TargetRefs)

	rules := field.NewPath("spec", "rules")
	custom := spec.Action == securityapi.AuthorizationPolicy_CUSTOM
	switch {
	case custom && spec.Rules == nil:
		v.deny(field.Required(rules, "a CUSTOM policy without rules never triggers, and istiod refuses it: add rules, or an empty rule {} to send every request to the provider"))
	case custom && spec.GetProvider().GetName() == "":
		v.deny(field.Required(field.NewPath("spec", "provider", "name"), "istiod refuses a CUSTOM policy without provider name: name an extension provider of the mesh config"),
			AuthorizationPolicyCustomProvider)
	}
	if spec.GetProvider() != nil && !custom {
		v.deny(field.Forbidden(field.NewPath("spec", "provider"), fmt.Sprintf(
			"istiod refuses a provider with action %s: set action CUSTOM, or remove provider", spec.Action)))
	}
	if spec.Action == securityapi.AuthorizationPolicy_DENY && spec.Rules == nil {
		v.deny(field.Required(rules, "a DENY policy without rules never triggers, and istiod refuses it: add rules, or an empty rule {} to deny every request"))
	}
	for i, rule := range spec.Rules {
		rp := rules.Index(i)
		if rule == nil {
			v.deny(field.Required(rp, "istiod refuses an empty rule entry: write {} to match every request, or remove it"))
			continue
		}
		if custom {
			v.customRule(rule, rp)
		}
		v.authzRule(rule, rp, spec.Action == securityapi.AuthorizationPolicy_DENY)
	}
}

// customRule reports the conditions istiod does not support with CUSTOM:
// the ext-authz filter runs before the peer and request identities exist.
func (v istioRun) customRule(rule *securityapi.Rule, rp *field.Path) {
	for j, from := range rule.From {
		src := from.GetSource()
		if src == nil {
			continue
		}
		sp := rp.Child("from").Index(j).Child("source")
		for _, l := range []authzList{
			{"namespaces", src.Namespaces}, {"notNamespaces", src.NotNamespaces},
			{"serviceAccounts", src.ServiceAccounts}, {"notServiceAccounts", src.NotServiceAccounts},
			{"trustDomains", src.TrustDomains}, {"notTrustDomains", src.NotTrustDomains},
			{"principals", src.Principals}, {"notPrincipals", src.NotPrincipals},
			{"requestPrincipals", src.RequestPrincipals}, {"notRequestPrincipals", src.NotRequestPrincipals},
		} {
			if len(l.values) > 0 {
				v.deny(field.Forbidden(sp.Child(l.name), "istiod does not support "+l.name+" with action CUSTOM and refuses the policy: match on ipBlocks, to and other when keys, or check this in an ALLOW or DENY policy"))
			}
		}
	}
	for k, when := range rule.When {
		if when == nil {
			continue // reported for every action by authzRule
		}
		switch key := when.Key; {
		case key == "source.namespace", key == "source.serviceAccount", key == "source.trustDomain", key == "source.principal", strings.HasPrefix(key, "request.auth."):
			v.deny(field.Invalid(rp.Child("when").Index(k).Child("key"), key,
				"istiod does not support this key with action CUSTOM and refuses the policy: check it in an ALLOW or DENY policy"))
		}
	}
}

// authzRule is the per-rule part of ValidateAuthorizationPolicy.
func (v istioRun) authzRule(rule *securityapi.Rule, rp *field.Path, deny bool) {
	if rule.From != nil && len(rule.From) == 0 {
		v.deny(field.Required(rp.Child("from"), "istiod refuses an empty from list: add a source, or remove from"))
	}
	tcpInFrom, tcpInTo, fromExists, toExists := false, false, false, false
	for j, from := range rule.From {
		fp := rp.Child("from").Index(j)
		if from == nil {
			v.deny(field.Required(fp, "istiod refuses an empty from entry: give a source, or remove it"))
			continue
		}
		if from.Source == nil {
			v.deny(field.Required(fp.Child("source"), "istiod refuses a from entry without source: give a source, or remove the entry"))
			continue
		}
		fromExists = true
		if v.source(from.Source, fp.Child("source")) {
			tcpInFrom = true
		}
	}
	if rule.To != nil && len(rule.To) == 0 {
		v.deny(field.Required(rp.Child("to"), "istiod refuses an empty to list: add an operation, or remove to"))
	}
	for j, to := range rule.To {
		tp := rp.Child("to").Index(j)
		if to == nil {
			v.deny(field.Required(tp, "istiod refuses an empty to entry: give an operation, or remove it"))
			continue
		}
		if to.Operation == nil {
			v.deny(field.Required(tp.Child("operation"), "istiod refuses a to entry without operation: give an operation, or remove the entry"))
			continue
		}
		toExists = true
		if v.operation(to.Operation, tp.Child("operation")) {
			tcpInTo = true
		}
	}
	for k, cond := range rule.When {
		if cond == nil {
			v.deny(field.Required(rp.Child("when").Index(k), "istiod refuses an empty when entry: give key and values, or remove it"))
			continue
		}
		v.condition(cond, rp.Child("when").Index(k))
	}
	if deny && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo)) {
		v.warn(field.Invalid(rp, field.OmitValueType{}, "this DENY rule matches only HTTP attributes, so on TCP ports of the selected workloads, where they cannot be read, it denies all traffic; istiod warns: name the ports in to.operation.ports"))
	}
}

// source checks one from.source; it says whether the source uses
// attributes TCP traffic has.
func (v istioRun) source(src *securityapi.Source, sp *field.Path) (tcp bool) {
	if len(src.Principals)+len(src.NotPrincipals)+len(src.Namespaces)+len(src.NotNamespaces) > 0 &&
		len(src.ServiceAccounts)+len(src.NotServiceAccounts) > 0 {
		p := sp.Child("serviceAccounts")
		if len(src.ServiceAccounts) == 0 {
			p = sp.Child("notServiceAccounts")
		}
		v.deny(field.Forbidden(p, "istiod refuses serviceAccounts together with namespaces or principals in one source: use one of them, or two from entries"))
	}
	all := []authzList{
		{"principals", src.Principals}, {"notPrincipals", src.NotPrincipals},
		{"requestPrincipals", src.RequestPrincipals}, {"notRequestPrincipals", src.NotRequestPrincipals},
		{"namespaces", src.Namespaces}, {"notNamespaces", src.NotNamespaces},
		{"ipBlocks", src.IpBlocks}, {"notIpBlocks", src.NotIpBlocks},
		{"remoteIpBlocks", src.RemoteIpBlocks}, {"notRemoteIpBlocks", src.NotRemoteIpBlocks},
		{"serviceAccounts", src.ServiceAccounts}, {"notServiceAccounts", src.NotServiceAccounts},
		{"trustDomains", src.TrustDomains}, {"notTrustDomains", src.NotTrustDomains},
	}
	empty := true
	for _, l := range all {
		if len(l.values) > 0 {
			empty = false
		}
	}
	if empty {
		v.deny(field.Required(sp, "istiod refuses an empty source: name principals, namespaces, ipBlocks or another source field, or remove the from entry"))
	}
	for _, l := range all {
		lp := sp.Child(l.name)
		switch l.name {
		case "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks":
			v.values(lp, l.values, istioIPProblem)
		case "serviceAccounts", "notServiceAccounts":
			v.serviceAccounts(lp, l.values)
		case "trustDomains", "notTrustDomains":
			v.values(lp, l.values, istioTrustDomainProblem)
		default:
			v.values(lp, l.values, nil)
		}
	}
	for _, l := range []authzList{
		{"principals", src.Principals}, {"notPrincipals", src.NotPrincipals}, {"ipBlocks", src.IpBlocks}, {"notIpBlocks", src.NotIpBlocks},
		{"namespaces", src.Namespaces}, {"notNamespaces", src.NotNamespaces}, {"remoteIpBlocks", src.RemoteIpBlocks}, {"notRemoteIpBlocks", src.NotRemoteIpBlocks},
		{"serviceAccounts", src.ServiceAccounts}, {"notServiceAccounts", src.NotServiceAccounts},
	} {
		tcp = tcp || len(l.values) > 0
	}
	return tcp
}

// operation checks one to.operation; it says whether the operation names
// ports, the one attribute TCP traffic has.
func (v istioRun) operation(op *securityapi.Operation, opPath *field.Path) (tcp bool) {
	all := []authzList{
		{"ports", op.Ports}, {"notPorts", op.NotPorts}, {"methods", op.Methods}, {"notMethods", op.NotMethods},
		{"paths", op.Paths}, {"notPaths", op.NotPaths}, {"hosts", op.Hosts}, {"notHosts", op.NotHosts},
	}
	empty := true
	for _, l := range all {
		if len(l.values) > 0 {
			empty = false
		}
	}
	if empty {
		v.deny(field.Required(opPath, "istiod refuses an empty operation: name hosts, ports, methods or paths, or remove the to entry"))
	}
	for _, l := range all {
		lp := opPath.Child(l.name)
		switch l.name {
		case "ports", "notPorts":
			v.values(lp, l.values, istioPortProblem)
		case "paths", "notPaths":
			v.values(lp, l.values, istioPathTemplateProblem)
		default:
			v.values(lp, l.values, nil)
		}
	}
	return len(op.Ports) > 0 || len(op.NotPorts) > 0
}

// condition checks one when entry: a key istiod knows, values for it.
func (v istioRun) condition(cond *securityapi.Condition, cp *field.Path) {
	if cond.Key == "" {
		v.deny(field.Required(cp.Child("key"), "istiod refuses a condition without key: name an attribute such as request.headers[x-user] or source.ip"))
		return
	}
	if len(cond.Values) == 0 && len(cond.NotValues) == 0 {
		v.deny(field.Required(cp.Child("values"), "istiod refuses a condition without values and notValues: give at least one"))
		return
	}
	keyWhy, check := istioConditionKey(cond.Key)
	if keyWhy != "" {
		v.deny(field.Invalid(cp.Child("key"), cond.Key, keyWhy))
	}
	v.values(cp.Child("values"), cond.Values, check)
	v.values(cp.Child("notValues"), cond.NotValues, check)
}

// values reports empty values, and what check says of the others.
func (v istioRun) values(p *field.Path, values []string, check func(string) string) {
	for k, val := range values {
		switch {
		case val == "":
			v.deny(field.Invalid(p.Index(k), val, "istiod refuses empty values: remove it"))
		case check != nil:
			if why := check(val); why != "" {
				v.deny(field.Invalid(p.Index(k), val, why))
			}
		}
	}
}

// serviceAccounts is security.CheckServiceAccount.
func (v istioRun) serviceAccounts(p *field.Path, values []string) {
	if len(values) > 16 {
		v.deny(field.TooMany(p, len(values), 16))
	}
	v.values(p, values, istioServiceAccountProblem)
}

func istioServiceAccountProblem(val string) string {
	const form = "; istiod refuses it: write serviceAccount or namespace/serviceAccount"
	switch {
	case strings.Contains(val, "*"):
		return "wildcards are not allowed here" + form
	case len(val) > 320:
		return "longer than 320 characters" + form
	case strings.Count(val, "/") > 1:
		return "more than one /" + form
	}
	if ns, sa, ok := strings.Cut(val, "/"); ok && (ns == "" || sa == "") {
		return "empty namespace or service account" + form
	}
	return ""
}

// istioWildcardProblem is security.CheckWildcardValues for one value: one
// *, at the start or the end.
func istioWildcardProblem(val string) string {
	n := strings.Count(val, "*")
	switch {
	case n > 1:
		return "more than one *; istiod refuses it: use one * at the start or the end"
	case n == 1 && val != "*" && !strings.HasPrefix(val, "*") && !strings.HasSuffix(val, "*"):
		return "* in the middle; istiod refuses it: use one * at the start or the end"
	}
	return ""
}

func istioTrustDomainProblem(val string) string {
	if why := istioWildcardProblem(val); why != "" {
		return why
	}
	if strings.Contains(val, "/") {
		return "a trust domain has no /, and istiod refuses one: write only the trust domain, such as cluster.local"
	}
	return ""
}

// istioIPProblem is security.ValidateIPs for one value.
func istioIPProblem(val string) string {
	if strings.Contains(val, "/") {
		if _, err := netip.ParsePrefix(val); err != nil {
			return "not a CIDR range, and istiod refuses it: write an address/prefix length such as 10.0.0.0/16"
		}
		return ""
	}
	if _, err := netip.ParseAddr(val); err != nil {
		return "not an IP address, and istiod refuses it: write an address such as 10.0.0.1 or a CIDR range"
	}
	return ""
}

// istioPortProblem is security.ValidatePorts for one value.
func istioPortProblem(val string) string {
	if p, err := strconv.ParseUint(val, 10, 32); err != nil || p > 65535 {
		return "not a port number, and istiod refuses it: write a number from 0 to 65535"
	}
	return ""
}

// istioPathLiteral is a path segment of pchar (RFC 3986), as istiod
// requires beside {*} and {**}.
var istioPathLiteral = regexp.MustCompile(`^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$`)

// istioPathTemplateProblem is security.CheckValidPathTemplate for one path.
func istioPathTemplateProblem(p string) string {
	const fix = "; istiod refuses it: use {*} for one segment and {**} once, last, beside literal segments"
	template := strings.Contains(p, "{*}") || strings.Contains(p, "{**}")
	anySeen := false
	for _, glob := range strings.Split(strings.Trim(p, "/"), "/") {
		switch {
		case (glob == "{*}" || glob == "{**}") && anySeen:
			return "{**} is not the last operator" + fix
		case glob == "{*}":
			continue
		case glob == "{**}":
			anySeen = true
			continue
		case strings.ContainsAny(glob, "{}"):
			return fmt.Sprintf("segment %q has { or } beside the {*} and {**} operators", glob) + fix
		case template && !istioPathLiteral.MatchString(glob):
			return fmt.Sprintf("segment %q is not a valid path literal next to a path operator", glob) + fix
		}
	}
	return ""
}

// istioConditionKey is the key part of security.ValidateAttribute: why the
// key is refused, and the check its values need.
func istioConditionKey(key string) (string, func(string) string) {
	mapKey := func() string {
		open := strings.Index(key, "[")
		if strings.HasSuffix(key, "]") && open > 0 && open < len(key)-2 {
			return ""
		}
		return "istiod refuses this key: write it as name[entry], such as request.headers[x-user]"
	}
	switch {
	case strings.HasPrefix(key, "request.headers"):
		return mapKey(), nil
	case key == "source.ip", key == "remote.ip", key == "destination.ip":
		return "", istioIPProblem
	case key == "source.serviceAccount":
		return "", istioServiceAccountProblem
	case key == "source.trustDomain":
		return "", istioWildcardProblem
	case key == "destination.port":
		return "", istioPortProblem
	case key == "source.namespace", key == "source.principal", key == "request.auth.principal",
		key == "request.auth.audiences", key == "request.auth.presenter", key == "connection.sni":
		return "", nil
	case strings.HasPrefix(key, "request.auth.claims"), strings.HasPrefix(key, "experimental.envoy.filters."):
		return mapKey(), nil
	case key == "destination.namespace":
		return "istiod refuses destination.namespace: the policy's own namespace is the destination namespace, so put the policy there", nil
	case strings.HasPrefix(key, "destination.labels"):
		return "istiod refuses destination.labels: select the workloads with spec.selector", nil
	case key == "destination.name", key == "destination.user":
		return "istiod refuses this attribute of the old v1alpha1 API: select the workload with spec.selector", nil
	}
	return "istiod does not know this attribute and refuses the policy: use request.headers[...], source.ip, remote.ip, source.namespace, source.principal, request.auth.claims[...], destination.ip, destination.port or connection.sni", nil
}
