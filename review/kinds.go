package review

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	segjson "github.com/segmentio/encoding/json"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
	"github.com/gatewarden/gatewarden/mutators"
	"github.com/gatewarden/gatewarden/validators"
)

// Kind is one kind gatewarden intercepts. Kinds is the one list of them: the
// webhook decodes and routes by it, `gatewarden check` and the audit read
// stored objects by it, serve starts its informers from it, and a chart test
// holds the chart's webhook rules to it.
type Kind struct {
	Group string
	// Kind is the kind as checks name it (core.KindAPIRule...).
	Kind     string
	Resource string
	// Versions are every served version, the one stored objects are read in
	// first.
	Versions []Version
	// Cached is the object the serve cache holds for the kind (typed for
	// Istio's kinds, unstructured v2 for APIRules, which have no Go types
	// upstream); listing it lists every stored object once, whatever its
	// version, since the API server serves each in every version.
	Cached func() client.Object
	// CachedList is the list type of Cached.
	CachedList func() client.ObjectList
	// StoredVersion says in which version a listed object is checked, ""
	// for the first of Versions.
	StoredVersion func(client.Object) string
}

// Version is one served version: the Go type it decodes into (unknown
// fields are ignored: the API server has checked the schema, and a newer
// CRD must not make the webhook fail), its defaults and its checks.
type Version struct {
	Name string
	New  func() any
	// Decode reads an object of the version; nil: encoding/json into New.
	Decode   func(raw []byte) (any, error)
	Default  mutators.Defaulter
	Validate func(context.Context, *core.Object, *core.Env, *core.Report)
}

// Kinds are the kinds gatewarden intercepts, with every served version.
// Istio serves one schema under each of its versions, so they all decode
// into the v1 types.
var Kinds = []Kind{
	{
		Group: apirule.Group, Kind: core.KindAPIRule, Resource: "apirules",
		Versions: []Version{
			{Name: "v2", New: func() any { return &apirule.APIRule{} }, Decode: decodeAPIRule, Default: mutators.APIRule, Validate: validators.APIRule},
			{Name: "v2alpha1", New: func() any { return &apirule.APIRule{} }, Decode: decodeAPIRule, Default: mutators.APIRule, Validate: validators.APIRule},
			{Name: "v1beta1", New: func() any { return &apirule.V1beta1APIRule{} }, Decode: decodeV1beta1APIRule, Default: mutators.APIRuleV1beta1, Validate: validators.APIRuleV1beta1},
		},
		Cached: func() client.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(apirule.V2)
			return u
		},
		CachedList: func() client.ObjectList {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(apirule.V2.GroupVersion().WithKind("APIRuleList"))
			return l
		},
		// Without Kyma's conversion webhook (the CRD's strategy None), a
		// v1beta1 object read as v2 keeps its v1beta1 fields: check it as
		// what it is.
		StoredVersion: func(o client.Object) string {
			if apirule.LegacyShape(o) {
				return apirule.V1beta1.Version
			}
			return ""
		},
	},
	{
		Group: "networking.istio.io", Kind: core.KindGateway, Resource: "gateways",
		Versions:   istioVersions([]string{"v1", "v1beta1", "v1alpha3"}, func() any { return &networkingv1.Gateway{} }, decodeGateway, mutators.Gateway, validators.Gateway),
		Cached:     func() client.Object { return &networkingv1.Gateway{} },
		CachedList: func() client.ObjectList { return &networkingv1.GatewayList{} },
	},
	{
		Group: "security.istio.io", Kind: core.KindRequestAuthentication, Resource: "requestauthentications",
		Versions:   istioVersions([]string{"v1", "v1beta1"}, func() any { return &securityv1.RequestAuthentication{} }, decodeRequestAuthentication, nil, validators.RequestAuthentication),
		Cached:     func() client.Object { return &securityv1.RequestAuthentication{} },
		CachedList: func() client.ObjectList { return &securityv1.RequestAuthenticationList{} },
	},
	{
		Group: "security.istio.io", Kind: core.KindAuthorizationPolicy, Resource: "authorizationpolicies",
		Versions:   istioVersions([]string{"v1", "v1beta1"}, func() any { return &securityv1.AuthorizationPolicy{} }, decodeAuthorizationPolicy, nil, validators.AuthorizationPolicy),
		Cached:     func() client.Object { return &securityv1.AuthorizationPolicy{} },
		CachedList: func() client.ObjectList { return &securityv1.AuthorizationPolicyList{} },
	},
	{
		// Checked so that an exception that could not work, or would cover
		// too much, is refused when written; read by the review of the
		// other kinds (exceptions.go).
		Group: exception.Group, Kind: core.KindException, Resource: exception.Resource,
		Versions: []Version{
			{Name: exception.GroupVersion.Version, New: func() any { return &exception.GatewardenException{} }, Validate: validators.Exception},
		},
		Cached:     func() client.Object { return &exception.GatewardenException{} },
		CachedList: func() client.ObjectList { return &exception.GatewardenExceptionList{} },
	},
}

func istioVersions(names []string, newObj func() any, dec func([]byte) (any, error), d mutators.Defaulter, v func(context.Context, *core.Object, *core.Env, *core.Report)) []Version {
	out := make([]Version, len(names))
	for i, n := range names {
		out[i] = Version{Name: n, New: newObj, Decode: dec, Default: d, Validate: v}
	}
	return out
}

// Lookup finds the kind of a group and kind.
func Lookup(gk schema.GroupKind) (*Kind, bool) {
	for i := range Kinds {
		if Kinds[i].Group == gk.Group && Kinds[i].Kind == gk.Kind {
			return &Kinds[i], true
		}
	}
	return nil, false
}

// Version finds a served version of the kind.
func (k *Kind) Version(name string) (*Version, bool) {
	i := slices.IndexFunc(k.Versions, func(v Version) bool { return v.Name == name })
	if i < 0 {
		return nil, false
	}
	return &k.Versions[i], true
}

// VersionNames lists the served versions.
func (k *Kind) VersionNames() []string {
	out := make([]string, len(k.Versions))
	for i, v := range k.Versions {
		out[i] = v.Name
	}
	return out
}

// Find looks up the kind and version of a GVK.
func Find(gvk schema.GroupVersionKind) (*Kind, *Version, bool) {
	k, ok := Lookup(gvk.GroupKind())
	if !ok {
		return nil, nil, false
	}
	v, ok := k.Version(gvk.Version)
	return k, v, ok
}

// decode reads raw into the version's Go type.
func (v *Version) decode(raw []byte) (any, error) {
	if v.Decode != nil {
		return v.Decode(raw)
	}
	obj := v.New()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Stored is one object read from a cluster: the version it is checked in
// and its JSON, as the webhook would receive it.
type Stored struct {
	GVK    schema.GroupVersionKind
	Object client.Object
	Raw    []byte
}

// List reads every stored object of the kind in namespace ("" for all).
// The objects are copies, with their kind set.
func (k *Kind) List(ctx context.Context, r client.Reader, namespace string) ([]Stored, error) {
	objs, err := k.Objects(ctx, r, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]Stored, 0, len(objs))
	for _, it := range objs {
		st, ok, err := k.Stored(it)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, st)
		}
	}
	return out, nil
}

// Stored is a stored object ready to check: a copy (serve's cache hands
// out its own objects, and the kind is set on it) in the version it is
// checked as, with its JSON. ok is false for an object that is not a
// client.Object.
func (k *Kind) Stored(it client.Object) (st Stored, ok bool, err error) {
	o, ok := it.DeepCopyObject().(client.Object)
	if !ok {
		return Stored{}, false, nil
	}
	gvk := k.CheckedAs(o)
	o.GetObjectKind().SetGroupVersionKind(gvk)
	raw, err := Raw(o)
	if err != nil {
		return Stored{}, false, fmt.Errorf("encoding %s %s/%s: %w", k.Kind, o.GetNamespace(), o.GetName(), err)
	}
	return Stored{GVK: gvk, Object: o, Raw: raw}, true, nil
}

// Objects reads every stored object of the kind in namespace ("" for all)
// as the reader holds them: serve's cache shares its own objects, which
// callers then only read.
func (k *Kind) Objects(ctx context.Context, r client.Reader, namespace string) ([]client.Object, error) {
	if sr, ok := r.(cluster.StoredReader); ok {
		if objs, ok := sr.StoredObjects(ctx, k.Cached(), namespace); ok {
			return objs, nil
		}
	}
	l := k.CachedList()
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.List(ctx, l, opts...); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, it := range items {
		if o, ok := it.(client.Object); ok {
			out = append(out, o)
		}
	}
	return out, nil
}

// Object reads one stored object of the kind as the reader holds it, nil
// when there is none.
func (k *Kind) Object(ctx context.Context, r client.Reader, namespace, name string) (client.Object, error) {
	o := k.Cached()
	if sr, ok := r.(cluster.StoredReader); ok {
		if obj, ok := sr.StoredObject(ctx, o, namespace, name); ok {
			return obj, nil
		}
	}
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, o, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return o, nil
}

// CheckedAs is the kind and version a stored object is checked in.
func (k *Kind) CheckedAs(o client.Object) schema.GroupVersionKind {
	version := k.Versions[0].Name
	if k.StoredVersion != nil {
		if v := k.StoredVersion(o); v != "" {
			version = v
		}
	}
	return schema.GroupVersionKind{Group: k.Group, Version: version, Kind: k.Kind}
}

// Raw is the JSON of a stored object, as a review reads it. It only reads o.
func Raw(o client.Object) ([]byte, error) {
	if u, ok := o.(*unstructured.Unstructured); ok {
		return segjson.Marshal(u.Object)
	}
	return json.Marshal(o)
}

// normalize gives a decoded object the namespace of its request (the API
// server's, or the namespace a file object is checked in), so that checks
// and defaults read one namespace from one place.
func normalize(typed any, namespace string) string {
	m, ok := typed.(metav1.Object)
	if !ok {
		return namespace
	}
	switch {
	case namespace != "":
		m.SetNamespace(namespace)
	case m.GetNamespace() == "":
		m.SetNamespace("default")
	}
	return m.GetNamespace()
}
