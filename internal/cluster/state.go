// Package cluster is what validators and mutators know of the cluster: the
// objects a check may look at, behind one interface. The webhook backs it with
// the controller-runtime cache, `gatewarden check` with objects read from
// files, tests with the same in-memory store.
package cluster

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/exception"
)

// State answers questions about other objects. Getters return (nil, nil) when
// the object does not exist; an error means the answer is unknown (the kind is
// not readable, the cache is not ready), which checks report as such rather
// than as a missing object. List calls take "" for all namespaces.
type State interface {
	Gateway(ctx context.Context, namespace, name string) (*networkingv1.Gateway, error)
	Gateways(ctx context.Context, namespace string) ([]*networkingv1.Gateway, error)
	VirtualServices(ctx context.Context, namespace string) ([]*networkingv1.VirtualService, error)
	RequestAuthentications(ctx context.Context, namespace string) ([]*securityv1.RequestAuthentication, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	Namespace(ctx context.Context, name string) (*corev1.Namespace, error)
	// APIRules lists every APIRule in the v2 shape; v1beta1 objects are
	// converted (host becomes hosts[0]) so checks see one form.
	APIRules(ctx context.Context, namespace string) ([]*apirule.APIRule, error)
	// PodNamespaces lists the namespaces holding pods whose labels include
	// every selector label, sorted; "" namespace means all namespaces.
	PodNamespaces(ctx context.Context, namespace string, selector map[string]string) ([]string, error)
	// Mesh is the effective mesh configuration (istio-system/istio ConfigMap,
	// key mesh), with the authorizers of a Kyma Istio CR when one exists.
	Mesh(ctx context.Context) (*Mesh, error)
	// Certificates lists cert-manager and Gardener Certificates in a namespace.
	Certificates(ctx context.Context, namespace string) ([]Certificate, error)

	// Pods lists the metadata of the pods in namespace whose labels include
	// every selector label, sorted by name. Metadata only: the webhook
	// caches no pod specs, so checks decide by labels and annotations (the
	// sidecar injector's sidecar.istio.io/status). An empty selector
	// selects nothing.
	Pods(ctx context.Context, namespace string, selector map[string]string) ([]*metav1.PartialObjectMetadata, error)
	// ExternalGateway is the Kyma ExternalGateway namespace/name
	// (gateway.kyma-project.io/v1alpha1), read as unstructured.
	ExternalGateway(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error)

	// ConfigMap gets a ConfigMap: a gateway's client CA named
	// configmap://namespace/name. The webhook reads ConfigMaps only in the
	// gateway namespaces (and the mesh ConfigMap); elsewhere it answers an
	// error, which the checks report as not verified.
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)

	// Exceptions lists the GatewardenExceptions in a namespace.
	Exceptions(ctx context.Context, namespace string) ([]*exception.GatewardenException, error)
}

// Mesh is the part of Istio's MeshConfig the checks use.
type Mesh struct {
	// Found is false when no mesh config exists; defaults apply then.
	Found         bool
	RootNamespace string
	TrustDomain   string
	// ExtAuthzProviders are extensionProviders with envoyExtAuthzHttp or
	// envoyExtAuthzGrpc, by name.
	ExtAuthzProviders []string
	// ExtAuthzHTTPProviders are the extensionProviders with
	// envoyExtAuthzHttp, by name: the only ones Kyma accepts as APIRule
	// extAuth authorizers.
	ExtAuthzHTTPProviders []string
	// Providers are every extensionProviders name, whatever its type.
	Providers []string
	// KymaAuthorizers are spec.config.authorizers[].name of Kyma Istio CRs.
	KymaAuthorizers []string
}

// Certificate is a cert-manager or Gardener Certificate reduced to what the
// "certificate pending" logic needs.
type Certificate struct {
	Source     string // "cert-manager" or "gardener"
	Namespace  string
	Name       string
	SecretName string
	Ready      bool
	Failed     bool
	Message    string
}
