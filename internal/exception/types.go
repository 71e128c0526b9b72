// Package exception holds GatewardenException, gatewarden's own resource
// that lets named checks' findings on one object (or the objects with some
// labels) through until a date, with a reason, and decides which findings an
// exception covers. Who may write exceptions is RBAC's decision; what an
// exception may say is checked by the webhook (validators/exception.go).
package exception

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and versions of the resource; the CRD is
// charts/gatewarden/crds/gatewardenexceptions.gatewarden.io.yaml.
const (
	Group    = "gatewarden.io"
	Resource = "gatewardenexceptions"
)

var (
	GroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha1"}
	GVK          = GroupVersion.WithKind("GatewardenException")
)

// AllChecks in spec.checks names every check of the target's kind; only
// accepted where the configuration allows it (exceptions.allowAllChecks).
const AllChecks = "*"

// GatewardenException lets the findings of some checks on some objects of
// its namespace through, as warnings that name it, until it expires.
type GatewardenException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec Spec `json:"spec"`
	// Status is not written by gatewarden; it exists so that spec and
	// status are apart should a controller ever report on exceptions.
	Status *Status `json:"status,omitempty"`
}

// Spec is what an exception covers, why, and until when.
type Spec struct {
	// Checks are the check IDs whose findings are excepted.
	Checks []string `json:"checks"`
	Target Target   `json:"target"`
	// Reason is shown with every finding the exception covers.
	Reason string `json:"reason"`
	// ExpiresAt ends the exception; after it the findings deny again.
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// Target selects the objects of the exception's namespace it covers: of
// Kind, and named Name, and carrying every MatchLabels label (each one
// given must match).
type Target struct {
	Kind        string            `json:"kind"`
	Name        string            `json:"name,omitempty"`
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Status is empty: nothing writes it.
type Status struct{}

// GatewardenExceptionList is a list of exceptions.
type GatewardenExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GatewardenException `json:"items"`
}

// AddToScheme registers the types.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &GatewardenException{}, &GatewardenExceptionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// DeepCopyInto copies e into out.
func (e *GatewardenException) DeepCopyInto(out *GatewardenException) {
	*out = *e
	out.TypeMeta = e.TypeMeta
	e.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec.Checks = append([]string(nil), e.Spec.Checks...)
	if e.Spec.Target.MatchLabels != nil {
		out.Spec.Target.MatchLabels = make(map[string]string, len(e.Spec.Target.MatchLabels))
		for k, v := range e.Spec.Target.MatchLabels {
			out.Spec.Target.MatchLabels[k] = v
		}
	}
	e.Spec.ExpiresAt.DeepCopyInto(&out.Spec.ExpiresAt)
	if e.Status != nil {
		out.Status = &Status{}
	}
}

// DeepCopy copies e.
func (e *GatewardenException) DeepCopy() *GatewardenException {
	if e == nil {
		return nil
	}
	out := &GatewardenException{}
	e.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (e *GatewardenException) DeepCopyObject() runtime.Object { return e.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *GatewardenExceptionList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &GatewardenExceptionList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]GatewardenException, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}
