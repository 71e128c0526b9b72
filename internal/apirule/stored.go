package apirule

import (
	"bytes"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Stored is an APIRule as serve's cache keeps it: its metadata and its spec
// as JSON. An APIRule read as unstructured costs a map per JSON object of
// its spec, about 4 KiB for a small one; Stored costs its JSON. Clusters
// keep thousands of APIRules, and the cache keeps all of them, while the
// checks decode only the few an admission looks up (and memoize those).
type Stored struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              json.RawMessage `json:"spec,omitempty"`
}

var _ client.Object = &Stored{}

// DeepCopyObject implements runtime.Object.
func (s *Stored) DeepCopyObject() runtime.Object {
	if s == nil {
		return nil
	}
	out := &Stored{TypeMeta: s.TypeMeta}
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec = bytes.Clone(s.Spec)
	return out
}

// Store turns an APIRule read as unstructured into its Stored form, with
// metadata as given (a cache trims it first). The content is copied: u can
// be dropped.
func Store(u *unstructured.Unstructured) (*Stored, error) {
	s := &Stored{TypeMeta: metav1.TypeMeta{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()}}
	meta, _ := u.Object["metadata"].(map[string]any)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(meta, &s.ObjectMeta); err != nil {
		return nil, fmt.Errorf("APIRule metadata: %w", err)
	}
	if spec, ok := u.Object["spec"]; ok && spec != nil {
		raw, err := json.Marshal(spec)
		if err != nil {
			return nil, fmt.Errorf("APIRule spec: %w", err)
		}
		s.Spec = raw
	}
	return s, nil
}

// Legacy says whether a stored APIRule has v1beta1's shape (spec.host):
// without Kyma's conversion webhook (the CRD's strategy None) a v1beta1
// object read as v2 keeps its v1beta1 fields.
func (s *Stored) Legacy() bool {
	var shape struct {
		Host *string `json:"host"`
	}
	return len(s.Spec) > 0 && json.Unmarshal(s.Spec, &shape) == nil && shape.Host != nil
}

// Hosts are the hosts a stored APIRule exposes: spec.hosts, and v1beta1's
// spec.host.
func (s *Stored) Hosts() []string {
	var shape struct {
		Hosts []string `json:"hosts"`
		Host  string   `json:"host"`
	}
	if len(s.Spec) == 0 || json.Unmarshal(s.Spec, &shape) != nil {
		return nil
	}
	if shape.Host != "" {
		shape.Hosts = append(shape.Hosts, shape.Host)
	}
	return shape.Hosts
}

// APIRule reads a stored APIRule in the v2 shape. The informers' index
// functions and event handlers read every APIRule event this way: a v2
// object decodes its spec alone, its metadata copied, not encoded and
// decoded again.
func (s *Stored) APIRule() (*APIRule, error) {
	if s.Legacy() {
		raw, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		return decodeAs(V1beta1.Version, raw)
	}
	r := &APIRule{TypeMeta: s.TypeMeta}
	s.ObjectMeta.DeepCopyInto(&r.ObjectMeta)
	if len(s.Spec) > 0 {
		if err := json.Unmarshal(s.Spec, &r.Spec); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// FromObject reads an APIRule in the v2 shape from what a cache or reader
// holds: a Stored or an unstructured object.
func FromObject(o client.Object) (*APIRule, error) {
	switch r := o.(type) {
	case *Stored:
		return r.APIRule()
	case *unstructured.Unstructured:
		return FromUnstructured(r)
	}
	return nil, fmt.Errorf("an APIRule cannot be read from %T", o)
}

// HostsOf are the hosts of an APIRule held as Stored or unstructured.
func HostsOf(o client.Object) []string {
	switch r := o.(type) {
	case *Stored:
		return r.Hosts()
	case *unstructured.Unstructured:
		hosts, _, _ := unstructured.NestedStringSlice(r.Object, "spec", "hosts")
		if h, ok, _ := unstructured.NestedString(r.Object, "spec", "host"); ok && h != "" {
			hosts = append(hosts, h)
		}
		return hosts
	}
	return nil
}

// LegacyShape says whether an APIRule held as Stored or unstructured has
// v1beta1's shape (see Stored.Legacy).
func LegacyShape(o client.Object) bool {
	switch r := o.(type) {
	case *Stored:
		return r.Legacy()
	case *unstructured.Unstructured:
		_, legacy, _ := unstructured.NestedString(r.Object, "spec", "host")
		return legacy
	}
	return false
}
