package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	lru "github.com/hashicorp/golang-lru/v2"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// MeshConfigMap is where istiod reads the mesh configuration by default:
// the ConfigMap `istio` in istiod's namespace.
var MeshConfigMap = client.ObjectKey{Namespace: "istio-system", Name: "istio"}

// FromReader backs State with any controller-runtime reader: an in-memory
// client for files and tests, a live client. Indexed questions (Lookups) are
// answered by listing and filtering.
func FromReader(r client.Reader) State {
	decoded, _ := lru.New[decodedKey, *apirule.APIRule](decodedAPIRules)
	answers, _ := lru.New[answerKey, *indexAnswer](indexAnswers)
	return &reader{r: r, mesh: MeshConfigMap, decoded: decoded, answers: answers, meshCache: &meshCache{}}
}

// decodedAPIRules bounds the memo of decoded APIRules. With the host index
// an admission decodes only the APIRules that name its hosts; the memo
// spares decoding them again while they are unchanged, and its bound keeps
// it from becoming a second copy of every stored APIRule.
const decodedAPIRules = 1024

// WithMeshConfigMap makes a State from FromReader or FromObjects read the
// mesh configuration from key (istiod installed outside istio-system). The
// mesh root namespace then defaults to key's namespace, as it does in Istio.
func WithMeshConfigMap(s State, key client.ObjectKey) State {
	if r, ok := s.(*reader); ok {
		c := *r
		c.mesh, c.meshCache = key, &meshCache{}
		return &c
	}
	return s
}

type reader struct {
	r    client.Reader
	mesh client.ObjectKey
	// decoded memoizes APIRules by UID and resourceVersion: a stored
	// object with the same resourceVersion has the same content. The
	// values are shared between callers, which only read them.
	decoded *lru.Cache[decodedKey, *apirule.APIRule]
	// answers remembers indexed lists of APIRules (apiRulesUnder).
	answers *lru.Cache[answerKey, *indexAnswer]
	// indexed: r has the field indexes of Indexes. shared: r hands out
	// its objects without copies when asked (the cache; others copy anyway).
	indexed, shared bool
	meshCache       *meshCache
	// stores, when set, are the informer stores read first (FromCache).
	stores *stores
}

// readOpts make reads through a shared reader skip the cache's deep copy.
func (c *reader) getOpts() []client.GetOption {
	if c.shared {
		return []client.GetOption{client.UnsafeDisableDeepCopy}
	}
	return nil
}

func (c *reader) listOpts(opts ...client.ListOption) []client.ListOption {
	if c.shared {
		return append(opts, client.UnsafeDisableDeepCopy)
	}
	return opts
}

// absent reports errors that mean "there is nothing": the object does not
// exist, or its kind is not installed in the cluster.
func absent(err error) bool {
	return apierrors.IsNotFound(err) || notServed(err)
}

// notServed reports errors that mean the kind is not installed.
func notServed(err error) bool {
	return meta.IsNoMatchError(err) || isNoKind(err)
}

func isNoKind(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "no kind is registered") || strings.Contains(err.Error(), "no matches for kind"))
}

func get[T client.Object](ctx context.Context, r client.Reader, obj T, ns, name string, opts ...client.GetOption) (T, error) {
	var zero T
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj, opts...); err != nil {
		if absent(err) {
			return zero, nil
		}
		return zero, err
	}
	return obj, nil
}

func (c *reader) Gateway(ctx context.Context, ns, name string) (*networkingv1.Gateway, error) {
	if g, ok := storeGet[*networkingv1.Gateway](ctx, c.stores, "Gateway", ns, name); ok {
		return g, nil
	}
	return get(ctx, c.r, &networkingv1.Gateway{}, ns, name, c.getOpts()...)
}

func (c *reader) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return get(ctx, c.r, &corev1.Secret{}, ns, name, c.getOpts()...)
}

func (c *reader) Service(ctx context.Context, ns, name string) (*corev1.Service, error) {
	if svc, ok := storeGet[*corev1.Service](ctx, c.stores, "Service", ns, name); ok {
		return svc, nil
	}
	return get(ctx, c.r, &corev1.Service{}, ns, name, c.getOpts()...)
}

func (c *reader) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if n, ok := storeGet[*corev1.Namespace](ctx, c.stores, "Namespace", "", name); ok {
		return n, nil
	}
	return get(ctx, c.r, &corev1.Namespace{}, "", name, c.getOpts()...)
}

func (c *reader) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return get(ctx, c.r, &corev1.ConfigMap{}, ns, name)
}

func (c *reader) list(ctx context.Context, l client.ObjectList, ns string, opts ...client.ListOption) (bool, error) {
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.r.List(ctx, l, c.listOpts(opts...)...); err != nil {
		if absent(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (c *reader) Gateways(ctx context.Context, ns string) ([]*networkingv1.Gateway, error) {
	if l, ok := storeList[*networkingv1.Gateway](ctx, c.stores, "Gateway", "", "", ns); ok {
		return l, nil
	}
	var l networkingv1.GatewayList
	_, err := c.list(ctx, &l, ns)
	return l.Items, err
}

func (c *reader) VirtualServices(ctx context.Context, ns string) ([]*networkingv1.VirtualService, error) {
	if l, ok := storeList[*networkingv1.VirtualService](ctx, c.stores, "VirtualService", "", "", ns); ok {
		return l, nil
	}
	var l networkingv1.VirtualServiceList
	_, err := c.list(ctx, &l, ns)
	return l.Items, err
}

func (c *reader) RequestAuthentications(ctx context.Context, ns string) ([]*securityv1.RequestAuthentication, error) {
	if l, ok := storeList[*securityv1.RequestAuthentication](ctx, c.stores, "RequestAuthentication", "", "", ns); ok {
		return l, nil
	}
	var l securityv1.RequestAuthenticationList
	_, err := c.list(ctx, &l, ns)
	return l.Items, err
}

func (c *reader) APIRules(ctx context.Context, ns string) ([]*apirule.APIRule, error) {
	if l, ok := storeList[client.Object](ctx, c.stores, "APIRule", "", "", ns); ok {
		return c.decodeAll(l), nil
	}
	// The API server serves every stored APIRule in every version; reading
	// v2 sees them all once.
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(apirule.V2.GroupVersion().WithKind("APIRuleList"))
	if _, err := c.list(ctx, l, ns); err != nil {
		return nil, err
	}
	out := make([]*apirule.APIRule, 0, len(l.Items))
	for i := range l.Items {
		if r := c.decode(&l.Items[i]); r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *reader) decodeAll(l []client.Object) []*apirule.APIRule {
	out := make([]*apirule.APIRule, 0, len(l))
	for _, u := range l {
		if r := c.decode(u); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// decode converts a stored APIRule (apirule.Stored in serve's cache,
// unstructured elsewhere), from the memo when this version of the object
// was decoded before; nil when it does not decode.
func (c *reader) decode(u client.Object) *apirule.APIRule {
	key := decodedKey{u.GetUID(), u.GetResourceVersion()}
	keyed := key.uid != "" && key.rv != ""
	if keyed {
		if r, ok := c.decoded.Get(key); ok {
			return r
		}
	}
	r, err := apirule.FromObject(u)
	if err != nil {
		return nil
	}
	if keyed {
		c.decoded.Add(key, r)
	}
	return r
}

// decodedKey names one version of a stored object. A struct, not a joined
// string: an admission looks up every APIRule of a namespace.
type decodedKey struct {
	uid types.UID
	rv  string
}

func (c *reader) PodNamespaces(ctx context.Context, ns string, selector map[string]string) ([]string, error) {
	pods := c.indexedPods(ctx, ns, selector)
	if pods == nil {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PodList"})
		if _, err := c.list(ctx, l, ns, client.MatchingLabels(selector)); err != nil {
			return nil, err
		}
		for i := range l.Items {
			pods = append(pods, &l.Items[i])
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range pods {
		if !seen[p.Namespace] {
			seen[p.Namespace] = true
			out = append(out, p.Namespace)
		}
	}
	sort.Strings(out)
	return out, nil
}

// indexedPods reads the pods carrying one of the labels from the store's
// index, then matches the whole selector on those, instead of matching it
// against every pod; nil when there is no index to read.
func (c *reader) indexedPods(ctx context.Context, ns string, selector map[string]string) []*metav1.PartialObjectMetadata {
	if len(selector) == 0 {
		return nil
	}
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	l, ok := storeList[*metav1.PartialObjectMetadata](ctx, c.stores, "Pod", IndexPodLabel, keys[0]+"="+selector[keys[0]], ns)
	if !ok {
		return nil
	}
	sel := labels.SelectorFromSet(selector)
	return slices.DeleteFunc(l, func(p *metav1.PartialObjectMetadata) bool { return !sel.Matches(labels.Set(p.Labels)) })
}

func (c *reader) Pods(ctx context.Context, ns string, selector map[string]string) ([]*metav1.PartialObjectMetadata, error) {
	if len(selector) == 0 {
		return nil, nil
	}
	if pods := c.indexedPods(ctx, ns, selector); pods != nil {
		// The store's objects, shared: callers only read them.
		sort.SliceStable(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
		return pods, nil
	}
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PodList"})
	if _, err := c.list(ctx, l, ns, client.MatchingLabels(selector)); err != nil {
		return nil, err
	}
	out := make([]*metav1.PartialObjectMetadata, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, &l.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (c *reader) ExternalGateway(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(KymaExternalGateway)
	return get(ctx, c.r, u, ns, name)
}

func (c *reader) Mesh(ctx context.Context) (*Mesh, error) {
	m := &Mesh{RootNamespace: c.mesh.Namespace, TrustDomain: "cluster.local"}
	cm, err := get(ctx, c.r, &corev1.ConfigMap{}, c.mesh.Namespace, c.mesh.Name, c.getOpts()...)
	if err != nil {
		return nil, err
	}
	if cm != nil {
		m.Found = true
		if err := c.meshCache.parse(cm, m); err != nil {
			return nil, err
		}
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(KymaIstio.GroupVersion().WithKind("IstioList"))
	if _, err := c.list(ctx, l, ""); err != nil {
		return nil, err
	}
	for _, it := range l.Items {
		auths, _, _ := unstructured.NestedSlice(it.Object, "spec", "config", "authorizers")
		for _, a := range auths {
			if am, ok := a.(map[string]any); ok {
				if n, ok := am["name"].(string); ok && n != "" {
					m.KymaAuthorizers = append(m.KymaAuthorizers, n)
				}
			}
		}
	}
	return m, nil
}

func parseMesh(data string, m *Mesh) error {
	var mc struct {
		RootNamespace      string `json:"rootNamespace"`
		TrustDomain        string `json:"trustDomain"`
		ExtensionProviders []struct {
			Name              string          `json:"name"`
			EnvoyExtAuthzHTTP json.RawMessage `json:"envoyExtAuthzHttp"`
			EnvoyExtAuthzGRPC json.RawMessage `json:"envoyExtAuthzGrpc"`
		} `json:"extensionProviders"`
	}
	if err := yaml.Unmarshal([]byte(data), &mc); err != nil {
		return err
	}
	if mc.RootNamespace != "" {
		m.RootNamespace = mc.RootNamespace
	}
	if mc.TrustDomain != "" {
		m.TrustDomain = mc.TrustDomain
	}
	for _, p := range mc.ExtensionProviders {
		m.Providers = append(m.Providers, p.Name)
		if len(p.EnvoyExtAuthzHTTP) > 0 || len(p.EnvoyExtAuthzGRPC) > 0 {
			m.ExtAuthzProviders = append(m.ExtAuthzProviders, p.Name)
		}
		if len(p.EnvoyExtAuthzHTTP) > 0 && string(p.EnvoyExtAuthzHTTP) != "null" {
			m.ExtAuthzHTTPProviders = append(m.ExtAuthzHTTPProviders, p.Name)
		}
	}
	return nil
}

func (c *reader) Certificates(ctx context.Context, ns string) ([]Certificate, error) {
	var out []Certificate
	certs, ok := storeList[*certmanagerv1.Certificate](ctx, c.stores, "Certificate", "", "", ns)
	if !ok {
		var cm certmanagerv1.CertificateList
		if _, err := c.list(ctx, &cm, ns); err != nil {
			return nil, err
		}
		for i := range cm.Items {
			certs = append(certs, &cm.Items[i])
		}
	}
	for _, crt := range certs {
		ready, failed, msg := false, false, ""
		for _, cond := range crt.Status.Conditions {
			switch cond.Type {
			case certmanagerv1.CertificateConditionReady:
				ready = cond.Status == cmmeta.ConditionTrue
				if !ready {
					msg = cond.Message
				}
			case certmanagerv1.CertificateConditionIssuing:
				if cond.Status == cmmeta.ConditionFalse && cond.Reason == "Failed" {
					failed, msg = true, cond.Message
				}
			}
		}
		out = append(out, Certificate{Source: "cert-manager", Namespace: crt.Namespace, Name: crt.Name,
			SecretName: crt.Spec.SecretName, Ready: ready, Failed: failed, Message: msg})
	}
	gardener, ok := storeList[*unstructured.Unstructured](ctx, c.stores, "GardenerCertificate", "", "", ns)
	if !ok {
		gl := &unstructured.UnstructuredList{}
		gl.SetGroupVersionKind(GardenerCertificate.GroupVersion().WithKind("CertificateList"))
		if _, err := c.list(ctx, gl, ns); err != nil {
			return nil, err
		}
		for i := range gl.Items {
			gardener = append(gardener, &gl.Items[i])
		}
	}
	for _, it := range gardener {
		secret, _, _ := unstructured.NestedString(it.Object, "spec", "secretName")
		if secret == "" {
			// Gardener also accepts spec.secretRef.name.
			secret, _, _ = unstructured.NestedString(it.Object, "spec", "secretRef", "name")
		}
		state, _, _ := unstructured.NestedString(it.Object, "status", "state")
		msg, _, _ := unstructured.NestedString(it.Object, "status", "message")
		out = append(out, Certificate{Source: "gardener", Namespace: it.GetNamespace(), Name: it.GetName(), SecretName: secret,
			Ready: strings.EqualFold(state, "Ready"), Failed: strings.EqualFold(state, "Error"), Message: msg})
	}
	return out, nil
}

// meshCache keeps the parsed mesh configuration of the last ConfigMap seen:
// every RequestAuthentication and AuthorizationPolicy admission reads it,
// and parsing its YAML cost more than the checks that read it.
type meshCache struct {
	mu     sync.Mutex
	key    string
	parsed Mesh
}

// parse fills m from cm, from the cache when cm is the version parsed last.
func (mc *meshCache) parse(cm *corev1.ConfigMap, m *Mesh) error {
	key := ""
	if cm.UID != "" && cm.ResourceVersion != "" {
		key = string(cm.UID) + "/" + cm.ResourceVersion
	}
	mc.mu.Lock()
	if key != "" && key == mc.key {
		p := mc.parsed
		mc.mu.Unlock()
		m.RootNamespace, m.TrustDomain = p.RootNamespace, p.TrustDomain
		m.ExtAuthzProviders, m.Providers = slices.Clone(p.ExtAuthzProviders), slices.Clone(p.Providers)
		return nil
	}
	mc.mu.Unlock()
	if err := parseMesh(cm.Data["mesh"], m); err != nil {
		return err
	}
	if key != "" {
		mc.mu.Lock()
		mc.key = key
		mc.parsed = Mesh{RootNamespace: m.RootNamespace, TrustDomain: m.TrustDomain,
			ExtAuthzProviders: slices.Clone(m.ExtAuthzProviders), Providers: slices.Clone(m.Providers)}
		mc.mu.Unlock()
	}
	return nil
}
