package cluster

import (
	"net/http"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// NewMapper is serve's REST mapper: controller-runtime's dynamic mapper,
// whose RESTMapping answers are kept once found. The caches scoped to
// namespaces (Secrets, ConfigMaps) ask whether a kind is namespaced on
// every read, the mesh ConfigMap's on every admission, and the dynamic
// mapper's answer cost more than the read (6% of an AuthorizationPolicy
// admission's CPU in gatewarden-bench). A kind's mapping does not change
// while its CRD exists; errors are not kept, so a kind that appears later
// is found.
func NewMapper(cfg *rest.Config, httpClient *http.Client) (meta.RESTMapper, error) {
	m, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return MemoMapper(m), nil
}

// MemoMapper keeps the RESTMapping answers of m that are not errors.
func MemoMapper(m meta.RESTMapper) meta.RESTMapper {
	return &memoMapper{RESTMapper: m}
}

type memoMapper struct {
	meta.RESTMapper
	found sync.Map // mappingKey -> *meta.RESTMapping
}

type mappingKey struct {
	gk       schema.GroupKind
	versions string
}

func (m *memoMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	key := mappingKey{gk, strings.Join(versions, ",")}
	if v, ok := m.found.Load(key); ok {
		return v.(*meta.RESTMapping), nil
	}
	mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	m.found.Store(key, mapping)
	return mapping, nil
}
