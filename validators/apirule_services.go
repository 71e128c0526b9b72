package validators

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
)

var APIRuleService = core.Register(core.Check{
	ID:          "apirule-service",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "every rule has a service (rule or spec level) that exists and has the port",
})

var APIRuleServiceSelector = core.Register(core.Check{
	ID:          "apirule-service-selector",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "the service has a selector, so some workload receives the APIRule's policies",
})

// serviceErrors checks the service of every rule. A spec-level service is
// checked once per namespace it resolves to, and reported at spec.service.
func serviceErrors(ctx context.Context, ar *apirule.APIRule, st cluster.State) (deny, noSelector, warn field.ErrorList) {
	rulesPath := field.NewPath("spec", "rules")
	type got struct {
		svc *corev1.Service
		err error
	}
	services := map[string]got{}
	checked := map[string]bool{}
	for i, rule := range ar.Spec.Rules {
		svc, p := rule.Service, rulesPath.Index(i).Child("service")
		if svc == nil {
			svc, p = ar.Spec.Service, field.NewPath("spec", "service")
		}
		if svc == nil {
			deny = append(deny, field.Required(rulesPath.Index(i).Child("service"),
				"no service for this rule: set the rule's service or spec.service"))
			continue
		}
		ns := namespaceOrDefault(ar.Namespace)
		if ar.Spec.Service != nil && ar.Spec.Service.Namespace != nil && *ar.Spec.Service.Namespace != "" {
			ns = *ar.Spec.Service.Namespace
		}
		if rule.Service != nil && rule.Service.Namespace != nil && *rule.Service.Namespace != "" {
			ns = *rule.Service.Namespace
		}
		if key := p.String() + " " + ns; checked[key] {
			continue
		} else {
			checked[key] = true
		}
		if svc.Name == nil || *svc.Name == "" {
			deny = append(deny, field.Required(p.Child("name"), "name the Service that receives the traffic"))
			continue
		}
		if svc.Port == nil {
			deny = append(deny, field.Required(p.Child("port"), "give the Service port to route to"))
		}
		name := *svc.Name
		key := ns + "/" + name
		g, cached := services[key]
		if !cached {
			s, err := st.Service(ctx, ns, name)
			g = got{s, err}
			services[key] = g
		}
		switch {
		case g.err != nil:
			warn = append(warn, couldNotRun(p.Child("name"), "Service "+key, g.err))
			continue
		case g.svc == nil:
			deny = append(deny, notFound(p.Child("name"), name, fmt.Sprintf(
				"no such Service in namespace %s: create it, or fix the service name or namespace", ns)))
			continue
		case g.svc.Spec.Type == corev1.ServiceTypeExternalName:
			continue
		}
		if svc.Port != nil {
			var ports []string
			found := false
			for _, sp := range g.svc.Spec.Ports {
				ports = append(ports, strconv.Itoa(int(sp.Port)))
				found = found || int64(sp.Port) == *svc.Port
			}
			if !found {
				list := strings.Join(ports, ", ")
				if list == "" {
					list = "none"
				}
				deny = append(deny, field.Invalid(p.Child("port"), *svc.Port, fmt.Sprintf(
					"service %s has no such port (its ports: %s): use one of its ports", key, list)))
			}
		}
		if e := noSelectorError(p.Child("name"), g.svc); e != nil {
			noSelector = append(noSelector, e)
		}
	}
	return deny, noSelector, warn
}

// noSelectorError is the warning for a Service without a selector: Kyma's
// policies select workloads by it. ExternalName Services have no workloads.
func noSelectorError(p *field.Path, svc *corev1.Service) *field.Error {
	if len(svc.Spec.Selector) > 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	return field.Invalid(p, svc.Name, fmt.Sprintf(
		"service %s/%s has no selector, so no workload gets this APIRule's authorization policies: give it a selector matching its pods", svc.Namespace, svc.Name))
}
