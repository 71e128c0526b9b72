package mutators

import (
	"reflect"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recordDefaulted returns the operation that adds fields to the
// gatewarden.io/defaulted annotation, merged with the value already there,
// without duplicates; nil when every field is already listed. noMeta says
// the object has no metadata at all (so the whole member is added).
func recordDefaulted(m metav1.Object, noMeta bool, fields []string) []jsonpatch.JsonPatchOperation {
	ann := m.GetAnnotations()
	old, had := ann[AnnotationDefaulted]
	value, changed := mergeList(old, fields)
	if !changed {
		return nil
	}
	switch {
	case noMeta:
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/metadata",
			Value: map[string]any{"annotations": map[string]string{AnnotationDefaulted: value}}}}
	case ann == nil:
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/metadata/annotations",
			Value: map[string]string{AnnotationDefaulted: value}}}
	}
	op := "add"
	if had {
		op = "replace"
	}
	return []jsonpatch.JsonPatchOperation{{Operation: op, Path: root("metadata", "annotations", AnnotationDefaulted).Pointer(), Value: value}}
}

// mergeList appends to a comma-separated list the items it lacks; changed
// is false when nothing was added.
func mergeList(list string, items []string) (string, bool) {
	var have []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(have, s) {
			have = append(have, s)
		}
	}
	changed := false
	for _, s := range items {
		if !slices.Contains(have, s) {
			have = append(have, s)
			changed = true
		}
	}
	return strings.Join(have, ","), changed
}

// isZeroMeta says whether the object's metadata is entirely empty, which
// for a decoded request means the member is absent.
func isZeroMeta(typed any) bool {
	v := reflect.ValueOf(typed)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	f := v.Elem().FieldByName("ObjectMeta")
	return f.IsValid() && f.IsZero()
}
