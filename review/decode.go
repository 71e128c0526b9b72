package review

import (
	"fmt"

	segjson "github.com/segmentio/encoding/json"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// The decoders of the table's versions. Decoding is most of what an
// admission costs beyond TLS (docs/benchmarks.md), so they differ from a
// plain encoding/json.Unmarshal into the version's type in three ways that
// leave the result the same:
//   - segmentio/encoding/json, a drop-in replacement for encoding/json that
//     behaves as it does, decodes about four times as fast;
//   - Istio specs go through protojson: the types' own UnmarshalJSON goes
//     through the legacy jsonpb package, six times slower;
//   - metadata.managedFields, which no check or default reads and which the
//     API server sends with every object (a tree the size of the spec per
//     field manager), is skipped, not decoded.

// objectMeta is metav1.ObjectMeta read without its managedFields: the
// shallower field of the same name takes them.
type objectMeta struct {
	metav1.ObjectMeta
	ManagedFields present `json:"managedFields"`
}

// present records whether a value was there, without decoding it.
type present bool

func (p *present) UnmarshalJSON(b []byte) error {
	*p = string(b) != "null"
	return nil
}

// meta is the ObjectMeta, with an empty (not nil) managedFields when the
// object had some, so that metadata holding nothing else is not taken for
// absent metadata.
func (m *objectMeta) meta() metav1.ObjectMeta {
	om := m.ObjectMeta
	if m.ManagedFields {
		om.ManagedFields = []metav1.ManagedFieldsEntry{}
	}
	return om
}

func decodeAPIRule(raw []byte) (any, error) {
	var o struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        objectMeta   `json:"metadata"`
		Spec            apirule.Spec `json:"spec"`
	}
	if err := segjson.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return &apirule.APIRule{TypeMeta: o.TypeMeta, ObjectMeta: o.Metadata.meta(), Spec: o.Spec}, nil
}

func decodeV1beta1APIRule(raw []byte) (any, error) {
	var o struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        objectMeta          `json:"metadata"`
		Spec            apirule.V1beta1Spec `json:"spec"`
	}
	if err := segjson.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return &apirule.V1beta1APIRule{TypeMeta: o.TypeMeta, ObjectMeta: o.Metadata.meta(), Spec: o.Spec}, nil
}

// istioObject is the part of an Istio object the checks read, with the spec
// left as JSON for protojson. The status, written by istiod, is not read.
type istioObject struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        objectMeta         `json:"metadata"`
	Spec            segjson.RawMessage `json:"spec"`
}

// specJSON ignores unknown fields, as the types' own decoder does: the API
// server has checked the schema, and a newer CRD must not make the webhook
// fail.
var specJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

func decodeIstio(raw []byte, spec proto.Message) (metav1.TypeMeta, metav1.ObjectMeta, error) {
	var o istioObject
	if err := segjson.Unmarshal(raw, &o); err != nil {
		return o.TypeMeta, o.Metadata.meta(), err
	}
	if len(o.Spec) == 0 || string(o.Spec) == "null" {
		return o.TypeMeta, o.Metadata.meta(), nil
	}
	if err := specJSON.Unmarshal(o.Spec, spec); err != nil {
		return o.TypeMeta, o.Metadata.meta(), fmt.Errorf("spec: %w", err)
	}
	return o.TypeMeta, o.Metadata.meta(), nil
}

func decodeGateway(raw []byte) (any, error) {
	g := &networkingv1.Gateway{}
	var err error
	g.TypeMeta, g.ObjectMeta, err = decodeIstio(raw, &g.Spec)
	return g, err
}

func decodeRequestAuthentication(raw []byte) (any, error) {
	r := &securityv1.RequestAuthentication{}
	var err error
	r.TypeMeta, r.ObjectMeta, err = decodeIstio(raw, &r.Spec)
	return r, err
}

func decodeAuthorizationPolicy(raw []byte) (any, error) {
	p := &securityv1.AuthorizationPolicy{}
	var err error
	p.TypeMeta, p.ObjectMeta, err = decodeIstio(raw, &p.Spec)
	return p, err
}
