package migrate

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// Where FromObject found the v1beta1 spec.
const (
	FromV1beta1       = "v1beta1 object"
	FromAnnotation    = "annotation " + AnnotationV1beta1Spec
	FromV1beta1Fields = "v1beta1 fields of an object read as v2"
)

// FromObject returns the v1beta1 APIRule an object holds, in one of three
// forms: a gateway.kyma-project.io/v1beta1 object; an object read as v2 or
// v2alpha1 that Kyma converted, which keeps the v1beta1 spec as JSON in the
// gateway.kyma-project.io/v1beta1-spec annotation while original-version is
// v1beta1 (once v1beta1 is no longer served, that annotation is the only
// place the rules are); or an object read as v2 that still has v1beta1
// fields because no conversion webhook runs. ok is false for APIRules that
// are v2 already and for other kinds.
func FromObject(u *unstructured.Unstructured) (rule *apirule.V1beta1APIRule, from string, ok bool, err error) {
	gvk := u.GroupVersionKind()
	if gvk.GroupKind() != apirule.V1beta1.GroupKind() {
		return nil, "", false, nil
	}
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, "", true, err
	}
	decode := func(from string) (*apirule.V1beta1APIRule, string, bool, error) {
		r := &apirule.V1beta1APIRule{}
		if err := json.Unmarshal(raw, r); err != nil {
			return nil, from, true, fmt.Errorf("not a v1beta1 APIRule: %v", err)
		}
		return r, from, true, nil
	}
	if gvk.Version == apirule.V1beta1.Version {
		return decode(FromV1beta1)
	}
	ann := u.GetAnnotations()
	if ann[AnnotationOriginalVersion] == apirule.V1beta1.Version {
		spec, found := ann[AnnotationV1beta1Spec]
		if !found {
			return nil, FromAnnotation, true, fmt.Errorf("annotation %s is v1beta1 but %s is missing, so the v1beta1 rules are lost: write the v2 rules by hand", AnnotationOriginalVersion, AnnotationV1beta1Spec)
		}
		var meta struct {
			metav1.TypeMeta   `json:",inline"`
			metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, FromAnnotation, true, err
		}
		r := &apirule.V1beta1APIRule{TypeMeta: meta.TypeMeta, ObjectMeta: meta.ObjectMeta}
		if err := json.Unmarshal([]byte(spec), &r.Spec); err != nil {
			return nil, FromAnnotation, true, fmt.Errorf("annotation %s is not a v1beta1 spec: %v", AnnotationV1beta1Spec, err)
		}
		return r, FromAnnotation, true, nil
	}
	if _, legacy, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "host"); legacy {
		return decode(FromV1beta1Fields)
	}
	return nil, "", false, nil
}
