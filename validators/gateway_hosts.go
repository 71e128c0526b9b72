package validators

import (
	"fmt"
	"maps"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/istio"
)

var GatewayDuplicateHost = core.Register(core.Check{
	ID:          "gateway-duplicate-host",
	Kinds:       []string{core.KindGateway},
	Default:     core.Warn,
	Description: "no other Gateway for the same gateway workload (equal selectors, or one within the other with a pod matching both) serves the same host on the same port",
	Runtime:     "istio/istio pilot/pkg/model/gateway.go MergeGateways, CheckDuplicates",
})

// duplicateHosts warns about hosts this Gateway shares, on the same port,
// with another Gateway that selects the same workload.
func (g *gatewayCheck) duplicateHosts(servers *field.Path) {
	c := GatewayDuplicateHost
	if !g.r.Enabled(c) || len(g.gw.Spec.Servers) == 0 {
		return
	}
	all, err := g.env.Cluster.Gateways(g.ctx, "")
	if err != nil {
		g.r.Warn(c, field.InternalError(servers, fmt.Errorf("could not list Gateways, duplicate host check skipped: %v", err)))
		return
	}
	for _, other := range all {
		if other == nil || (other.Namespace == g.gw.Namespace && other.Name == g.gw.Name) || !g.sameWorkload(other) {
			continue
		}
		for i, s := range g.gw.Spec.Servers {
			if s == nil || s.Port == nil {
				continue
			}
			for j, h := range s.Hosts {
				if gatewaySharesHost(other, s.Port.Number, istio.HostName(h)) {
					g.r.Warn(c, field.Invalid(servers.Index(i).Child("hosts").Index(j), h, fmt.Sprintf(
						"port %d of this host is also served by Gateway %s/%s, which selects the same workload; envoy uses only one of them, so merge the servers into one Gateway",
						s.Port.Number, other.Namespace, other.Name)))
				}
			}
		}
	}
}

// sameWorkload reports whether both Gateways configure some gateway pod. Equal
// selectors always do, so a duplicate is found before the pods exist. When
// one selector is contained in the other, a pod matched by the narrower one
// is matched by both: they share a workload when such a pod exists.
// Selectors that differ in a value can never match the same pod.
func (g *gatewayCheck) sameWorkload(other *networkingv1.Gateway) bool {
	a, b := g.gw.Spec.Selector, other.Spec.Selector
	if maps.Equal(a, b) {
		return true
	}
	var narrow map[string]string
	switch {
	case labelsWithin(a, b):
		narrow = b
	case labelsWithin(b, a):
		narrow = a
	default:
		return false
	}
	found, err := g.env.Cluster.PodNamespaces(g.ctx, "", narrow)
	return err == nil && len(found) > 0
}

// labelsWithin reports whether every label of sub is in super.
func labelsWithin(sub, super map[string]string) bool {
	for k, v := range sub {
		if w, ok := super[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func gatewaySharesHost(gw *networkingv1.Gateway, port uint32, host string) bool {
	for _, s := range gw.Spec.Servers {
		if s == nil || s.Port == nil || s.Port.Number != port {
			continue
		}
		for _, h := range s.Hosts {
			if istio.HostName(h) == host {
				return true
			}
		}
	}
	return false
}
