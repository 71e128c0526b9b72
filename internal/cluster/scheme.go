package cluster

import (
	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	securityv1beta1 "istio.io/client-go/pkg/apis/security/v1beta1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/exception"
)

// Kinds without Go types of ours are read as unstructured objects.
var (
	GardenerCertificate = schema.GroupVersionKind{Group: "cert.gardener.cloud", Version: "v1alpha1", Kind: "Certificate"}
	KymaIstio           = schema.GroupVersionKind{Group: "operator.kyma-project.io", Version: "v1alpha2", Kind: "Istio"}
	// KymaExternalGateway is what an APIRule's spec.externalGateway names.
	KymaExternalGateway = schema.GroupVersionKind{Group: "gateway.kyma-project.io", Version: "v1alpha1", Kind: "ExternalGateway"}
)

// Scheme knows every type gatewarden reads or decodes.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		networkingv1.AddToScheme, networkingv1beta1.AddToScheme, networkingv1alpha3.AddToScheme,
		securityv1.AddToScheme, securityv1beta1.AddToScheme,
		certmanagerv1.AddToScheme,
		exception.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	for _, gvk := range []schema.GroupVersionKind{apirule.V2, apirule.V2alpha1, apirule.V1beta1, GardenerCertificate, KymaIstio, KymaExternalGateway} {
		s.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
		s.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &unstructured.UnstructuredList{})
	}
	return s
}
