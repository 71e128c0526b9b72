package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/cluster"
)

// checkedGroups are the API groups whose kinds gatewarden checks or reads.
// An object in one of them must be a kind and version that exists, and a
// group one typo away from one of them is a mistake, not another API.
var checkedGroups = []string{"gateway.kyma-project.io", "networking.istio.io", "security.istio.io"}

// checkTypeMeta refuses a document without apiVersion or kind: kubectl
// refuses it too, and check would otherwise skip it in silence.
func checkTypeMeta(js []byte) error {
	var tm struct {
		APIVersion any `json:"apiVersion"`
		Kind       any `json:"kind"`
	}
	trimmed := bytes.TrimSpace(js)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		found := "a scalar"
		if len(trimmed) > 0 && trimmed[0] == '[' {
			found = "a list"
		}
		return fmt.Errorf("not a Kubernetes object: want a mapping with apiVersion and kind, found %s", found)
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("not a Kubernetes object: %v", err)
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"apiVersion", tm.APIVersion}, {"kind", tm.Kind}} {
		s, isStr := f.v.(string)
		switch {
		case f.v == nil:
			return fmt.Errorf("no %s: every object needs apiVersion and kind, e.g. apiVersion: gateway.kyma-project.io/v2 and kind: APIRule", f.name)
		case !isStr || strings.TrimSpace(s) == "":
			return fmt.Errorf("%s %v is not a name: every object needs apiVersion and kind as strings", f.name, f.v)
		}
	}
	return nil
}

// checkKind refuses a kind or version that does not exist in a checked
// group, and a group that looks like a misspelt checked group.
func checkKind(gvk schema.GroupVersionKind) error {
	if !slices.Contains(checkedGroups, gvk.Group) {
		if g := closest(gvk.Group, checkedGroups); g != "" {
			return fmt.Errorf("apiVersion %s: no such API group; did you mean %s/%s?", gvk.GroupVersion(), g, gvk.Version)
		}
		return nil
	}
	if cluster.Scheme.Recognizes(gvk) {
		return nil
	}
	var kinds, versions []string
	for known := range cluster.Scheme.AllKnownTypes() {
		if known.Group != gvk.Group || strings.HasSuffix(known.Kind, "List") {
			continue
		}
		if !slices.Contains(kinds, known.Kind) {
			kinds = append(kinds, known.Kind)
		}
		if known.Kind == gvk.Kind && !slices.Contains(versions, known.Version) {
			versions = append(versions, known.Version)
		}
	}
	slices.Sort(kinds)
	slices.Sort(versions)
	if len(versions) > 0 {
		return fmt.Errorf("apiVersion %s: %s has no version %s; use one of %s", gvk.GroupVersion(), gvk.Kind, gvk.Version, strings.Join(versions, ", "))
	}
	msg := fmt.Sprintf("kind %s does not exist in %s", gvk.Kind, gvk.Group)
	if k := closest(gvk.Kind, kinds); k != "" {
		return fmt.Errorf("%s; did you mean %s?", msg, k)
	}
	return fmt.Errorf("%s; its kinds are %s", msg, strings.Join(kinds, ", "))
}

// closest is the candidate s is a likely misspelling of (another case, or
// at most two edits away), or "".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
