package validators

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

func roPattern(t *testing.T, p string) pathPattern {
	t.Helper()
	pp, ok := parsePathPattern(p)
	if !ok {
		t.Fatalf("invalid path %q", p)
	}
	return pp
}

func TestRuleOrderPatternContains(t *testing.T) {
	cases := []struct {
		outer, inner string
		want         bool
	}{
		// The guide's example, both orders.
		{"/anything/{**}", "/anything/{*}/one", true},
		{"/anything/{*}/one", "/anything/{**}", false},
		// {*} against exact segments.
		{"/{*}", "/orders", true},
		{"/orders", "/{*}", false},
		{"/a/{*}", "/a/b", true},
		{"/a/{*}", "/a/b/c", false},
		{"/{*}", "/", false}, // {*} is one non-empty segment
		{"/{*}/{*}", "/{**}", false},
		// {**} last: any rest of the path, but not the path without its slash.
		{"/a/{**}", "/a/b/c", true},
		{"/a/{**}", "/a/", true},
		{"/a/{**}", "/a", false},
		{"/a/{**}", "/a/{*}", true},
		{"/{*}/{**}", "/{**}", false},
		{"/{**}", "/{*}/{**}", true},
		// {**} in the middle: one or more segments.
		{"/{**}/items", "/a/b/items", true},
		{"/{**}/items", "/a/{*}/items", true},
		{"/{**}/items", "/items", false},
		{"/{*}/items", "/{**}/items", false},
		{"/{**}/b", "/{**}/a/b", true},
		{"/{**}/a/b", "/{**}/b", false},
		{"/a/{**}/z", "/a/b/{**}/z", true},
		{"/a/b/{**}/z", "/a/{**}/z", false},
		// /* is /{**}: it contains everything, itself included.
		{"/*", "/a/b/c", true},
		{"/*", "/", true},
		{"/*", "/{**}", true},
		{"/{**}", "/*", true},
		{"/a/b", "/*", false},
		// Exact paths.
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/c", false},
		{"/a/", "/a", false},
	}
	for _, tc := range cases {
		t.Run(tc.outer+" ⊇ "+tc.inner, func(t *testing.T) {
			if got := patternContains(roPattern(t, tc.outer), roPattern(t, tc.inner)); got != tc.want {
				t.Fatalf("patternContains(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
			}
		})
	}
}

func TestRuleOrderPatternOverlap(t *testing.T) {
	cases := []struct {
		a, b    string
		example string // "" when the patterns share no path
	}{
		{"/a/{*}", "/{*}/b", "/a/b"},
		{"/{**}/x", "/y/{**}", "/y/x"},
		{"/{*}/b", "/{*}/{*}", "/x/b"},
		{"/{**}", "/", "/"},
		{"/a/{**}", "/a/b", "/a/b"},
		{"/a", "/b", ""},
		{"/a/{**}", "/a", ""},
		{"/{*}", "/", ""},
		{"/{*}/x", "/{*}/y", ""},
		{"/x/{**}", "/{*}/x1", "/x/x1"},
	}
	for _, tc := range cases {
		t.Run(tc.a+" ∩ "+tc.b, func(t *testing.T) {
			a, b := roPattern(t, tc.a), roPattern(t, tc.b)
			got, ok := patternOverlap(a, b)
			if ok != (tc.example != "") || got != tc.example {
				t.Fatalf("patternOverlap(%q, %q) = %q, %v; want %q", tc.a, tc.b, got, ok, tc.example)
			}
			if ok {
				// The example must match both patterns.
				ex := roPattern(t, got)
				if !patternContains(a, ex) || !patternContains(b, ex) {
					t.Fatalf("example %q does not match both patterns", got)
				}
			}
		})
	}
}

// roRules builds rules from "METHODS PATH" lines, methods comma-separated.
func roRules(lines ...string) []apirule.Rule {
	var out []apirule.Rule
	for _, l := range lines {
		m, p, _ := strings.Cut(l, " ")
		out = append(out, apirule.Rule{Path: p, Methods: strings.Split(m, ",")})
	}
	return out
}

func TestRuleOrderFindings(t *testing.T) {
	cases := []struct {
		name       string
		rules      []string
		deny, warn []string // fields
	}{
		{"guide: general before specific", []string{"POST /anything/{**}", "POST /anything/{*}/one"}, []string{"spec.rules[1].path"}, nil},
		{"guide: specific before general", []string{"POST /anything/{*}/one", "POST /anything/{**}"}, nil, nil},
		{"disjoint methods", []string{"GET /anything/{**}", "POST /anything/{*}/one"}, nil, nil},
		{"one shared method is enough", []string{"GET /{**}", "GET,POST /a"}, []string{"spec.rules[1].path"}, nil},
		{"/* shadows everything", []string{"GET /*", "GET /orders"}, []string{"spec.rules[1].path"}, nil},
		{"/* last is fine", []string{"GET /orders", "GET /*"}, nil, nil},
		{"{*} before exact", []string{"GET /{*}", "GET /a"}, []string{"spec.rules[1].path"}, nil},
		{"exact before {*}", []string{"GET /a", "GET /{*}"}, nil, nil},
		{"{**} in the middle", []string{"GET /{**}/items", "GET /a/b/items"}, []string{"spec.rules[1].path"}, nil},
		{"{**} in the middle, not containing", []string{"GET /{**}/items", "GET /items"}, nil, nil},
		{"partial overlap warns", []string{"GET /a/{*}", "GET /{*}/b"}, nil, []string{"spec.rules[1].path"}},
		{"exact duplicate left to apirule-rule-duplicate", []string{"GET /a", "GET /a"}, nil, nil},
		{"/* and /{**} are duplicates too", []string{"GET /*", "GET /{**}"}, nil, nil},
		{"invalid earlier path is skipped", []string{"GET /{**}/{*}", "GET /a"}, nil, nil},
		{"shadowed per method by two rules", []string{"GET /{**}", "POST /{**}", "GET,POST /a"}, []string{"spec.rules[2].path", "spec.rules[2].path"}, nil},
		{"shadowed by two rules: reported for the first", []string{"GET /a/{**}", "GET /{**}", "GET /a/b"}, []string{"spec.rules[2].path"}, nil},
		{"third rule shadowed, second fine", []string{"GET /a/{**}", "GET /b", "GET /a/c"}, []string{"spec.rules[2].path"}, nil},
	}
	fields := func(l field.ErrorList) []string {
		var out []string
		for _, e := range l {
			out = append(out, e.Field)
		}
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			deny, warn, _ := ruleOrderFindings(context.Background(), roRules(tc.rules...), field.NewPath("spec", "rules"))
			if got := fields(deny); !reflect.DeepEqual(got, tc.deny) {
				t.Errorf("deny = %v, want %v: %v", got, tc.deny, deny)
			}
			if got := fields(warn); !reflect.DeepEqual(got, tc.warn) {
				t.Errorf("warn = %v, want %v: %v", got, tc.warn, warn)
			}
		})
	}
}

func TestRuleOrderMessages(t *testing.T) {
	deny, _, _ := ruleOrderFindings(context.Background(), roRules("POST /anything/{**}", "GET,POST /anything/{*}/one"), field.NewPath("spec", "rules"))
	if len(deny) != 1 {
		t.Fatalf("want one denial, got %v", deny)
	}
	msg := deny[0].ErrorBody()
	for _, frag := range []string{`"/anything/{*}/one"`, "never reached for POST:", "rule 0", `"/anything/{**}"`, "move this rule above rule 0"} {
		if !strings.Contains(msg, frag) {
			t.Errorf("message %q lacks %q", msg, frag)
		}
	}
	if strings.Contains(msg, "GET") {
		t.Errorf("message %q names GET, which rule 0 does not take", msg)
	}
	_, warn, _ := ruleOrderFindings(context.Background(), roRules("GET /a/{*}", "GET /{*}/b"), field.NewPath("spec", "rules"))
	if len(warn) != 1 || !strings.Contains(warn[0].ErrorBody(), "such as /a/b, go to rule 0") {
		t.Fatalf("overlap warning: %v", warn)
	}
}

// Rules are compared only with earlier rules that can share a path, so an
// APIRule of many rules under literal prefixes costs little; a shadowing
// rule far down is still found, and so is one behind an operator.
func TestRuleOrderManyRules(t *testing.T) {
	var specs []string
	for i := 0; i < 2000; i++ {
		specs = append(specs, fmt.Sprintf("GET /svc%d/{**}", i))
	}
	specs = append(specs, "GET /svc7/x", "GET /{*}/y", "GET /z/y")
	deny, _, stopped := ruleOrderFindings(context.Background(), roRules(specs...), field.NewPath("spec", "rules"))
	if stopped != -1 {
		t.Fatalf("stopped at %d", stopped)
	}
	var got []string
	for _, e := range deny {
		got = append(got, e.Field)
	}
	want := []string{"spec.rules[2000].path", "spec.rules[2002].path"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("denied %v, want %v", got, want)
	}
}

// Out of time, the comparison stops and says where.
func TestRuleOrderStopsWhenTheBudgetIsSpent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, stopped := ruleOrderFindings(ctx, roRules("GET /a", "GET /b"), field.NewPath("spec", "rules"))
	if stopped != 0 {
		t.Fatalf("stopped = %d, want 0", stopped)
	}
	r := core.NewReport(core.DefaultPolicy)
	validateRuleOrder(ctx, roRules("GET /a", "GET /b"), r)
	if len(r.Violations) != 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Message, "budget ran out after comparing 0 of 2 rules") {
		t.Errorf("violations %v, warnings %v", r.Violations, r.Warnings)
	}
}
