package mutators

import (
	"slices"
	"testing"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

func TestPath(t *testing.T) {
	cases := []struct {
		p             path
		pointer, name string
	}{
		{root("spec", "gateway"), "/spec/gateway", "spec.gateway"},
		{root("spec", "rules").Index(2).Key("service", "port"), "/spec/rules/2/service/port", "spec.rules[2].service.port"},
		{root("metadata", "annotations", "gatewarden.io/defaulted"), "/metadata/annotations/gatewarden.io~1defaulted", "metadata.annotations.gatewarden.io/defaulted"},
		{root("a~b", "c/d~e"), "/a~0b/c~1d~0e", "a~b.c/d~e"},
		{root(), "", ""},
	}
	for _, tc := range cases {
		if got := tc.p.Pointer(); got != tc.pointer {
			t.Errorf("%v.Pointer() = %q, want %q", tc.p, got, tc.pointer)
		}
		if got := tc.p.String(); got != tc.name {
			t.Errorf("%v.String() = %q, want %q", tc.p, got, tc.name)
		}
	}
}

func TestPathDoesNotAlias(t *testing.T) {
	base := root("spec", "rules").Index(0)
	a, b := base.Key("jwt"), base.Key("extAuth")
	if a.String() != "spec.rules[0].jwt" || b.String() != "spec.rules[0].extAuth" {
		t.Fatalf("got %s and %s", a, b)
	}
}

func TestMergeList(t *testing.T) {
	cases := []struct {
		list    string
		items   []string
		want    string
		changed bool
	}{
		{"", []string{"a", "b"}, "a,b", true},
		{"a", []string{"b"}, "a,b", true},
		{"a,b", []string{"b", "a"}, "a,b", false},
		{" a , b,,", []string{"c"}, "a,b,c", true},
		{"a,a", []string{"b", "b"}, "a,b", true},
	}
	for _, tc := range cases {
		got, changed := mergeList(tc.list, tc.items)
		if got != tc.want || changed != tc.changed {
			t.Errorf("mergeList(%q, %q) = %q, %v; want %q, %v", tc.list, tc.items, got, changed, tc.want, tc.changed)
		}
	}
}

func TestDefaultedAnnotation(t *testing.T) {
	const spec = `"spec":{"hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"noAuth":true}]}`
	cases := []struct {
		name, metadata string
		want           []string
	}{
		{"no annotations", `{"name":"r"}`,
			[]string{`add /metadata/annotations {"gatewarden.io/defaulted":"spec.gateway"}`}},
		{"null annotations", `{"name":"r","annotations":null}`,
			[]string{`add /metadata/annotations {"gatewarden.io/defaulted":"spec.gateway"}`}},
		{"other annotations", `{"name":"r","annotations":{"a/b":"c"}}`,
			[]string{`add /metadata/annotations/gatewarden.io~1defaulted "spec.gateway"`}},
		{"merged", `{"name":"r","annotations":{"gatewarden.io/defaulted":"spec.service.port"}}`,
			[]string{`replace /metadata/annotations/gatewarden.io~1defaulted "spec.service.port,spec.gateway"`}},
		{"already listed", `{"name":"r","annotations":{"gatewarden.io/defaulted":"spec.gateway"}}`, nil},
		{"no metadata", `{}`,
			[]string{`add /metadata {"annotations":{"gatewarden.io/defaulted":"spec.gateway"}}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":` + tc.metadata + `,` + spec + `}`
			if tc.metadata == `{}` {
				raw = `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule",` + spec + `}`
			}
			ops, _ := mutate(t, apirule.V2, raw, &core.Env{})
			lines := opLines(t, ops)
			if len(lines) == 0 || lines[0] != `add /spec/gateway "kyma-system/kyma-gateway"` {
				t.Fatalf("ops %q: want the gateway default first", lines)
			}
			if got := lines[1:]; !slices.Equal(got, tc.want) {
				t.Fatalf("annotation ops %q, want %q", got, tc.want)
			}
			apply(t, raw, ops) // every variant applies to its document
		})
	}
}

func TestDefaultedAnnotationLists(t *testing.T) {
	raw := v2(`{"hosts":["a"],"service":{"name":"one"},"rules":[{"path":"/*","methods":["GET"],"jwt":{"authentications":[{"issuer":"https://idp.example.com"}]}}]}`)
	ops, _ := mutate(t, apirule.V2, raw, &core.Env{Cluster: stdCluster(t), Trust: stdTrust()})
	lines := opLines(t, ops)
	want := `add /metadata/annotations {"gatewarden.io/defaulted":"spec.gateway,spec.service.port,spec.rules[0].jwt.authentications[0].jwksUri"}`
	if len(lines) != 4 || lines[3] != want {
		t.Fatalf("ops %q: want 3 defaults then %s", lines, want)
	}
}

func TestDefaultedAnnotationDisabled(t *testing.T) {
	ops, _ := mutate(t, apirule.V2, v2(`{"hosts":["a"],"rules":[{"path":"/*","methods":["GET"],"noAuth":true}]}`),
		&core.Env{Defaults: core.DefaultSettings{Disabled: []string{DefaultedAnnotation}}})
	want := []string{`add /spec/gateway "kyma-system/kyma-gateway"`}
	if got := opLines(t, ops); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
