package validators

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

// Rule order. Kyma evaluates an APIRule's rules top to bottom and
// the first rule whose path and method match a request wins: the
// VirtualService routes in rule order, and every AuthorizationPolicy excludes
// (notPaths) the paths of earlier rules that share a method. A later rule
// whose requests, for some method, are all matched by an earlier rule is dead
// configuration, and Kyma's controller puts such an APIRule in Error.
//
// Exact duplicates (the same path, with `/*` read as `/{**}`, and a shared
// method) are reported by apirule-rule-duplicate only; these checks skip them.

var APIRuleRuleOrder = core.Register(core.Check{
	ID:          "apirule-rule-order",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Deny,
	Description: "a rule is never reached: an earlier rule with a shared method matches every path it matches",
	Runtime:     "kyma-project/api-gateway internal/path/segment_trie/segment_trie.go InsertAndCheckCollisions",
})

var APIRuleRuleOverlap = core.Register(core.Check{
	ID:          "apirule-rule-overlap",
	Kinds:       []string{core.KindAPIRule},
	Default:     core.Warn,
	Description: "two rules with a shared method match some of the same paths, neither all of the other's; the earlier wins those",
	Runtime:     "istio VirtualService route order (the first matching route wins); kyma-project/api-gateway segment_trie accepts partial overlaps",
})

func validateRuleOrder(ctx context.Context, rules []apirule.Rule, r *core.Report) {
	if !r.Enabled(APIRuleRuleOrder) && !r.Enabled(APIRuleRuleOverlap) {
		return
	}
	deny, warn, stopped := ruleOrderFindings(ctx, rules, field.NewPath("spec", "rules"))
	r.Deny(APIRuleRuleOrder, deny...)
	r.Warn(APIRuleRuleOverlap, warn...)
	if stopped >= 0 {
		r.Warn(APIRuleRuleOrder, field.InternalError(field.NewPath("spec", "rules").Index(stopped), fmt.Errorf(
			"the admission's time budget ran out after comparing %d of %d rules; the order of the rest was not checked", stopped, len(rules))))
	}
}

// ruleOrderFindings compares every rule with the rules above it that can
// match some of the same paths. deny holds a rule shadowed (for some
// method) by an earlier one; warn holds pairs that merely overlap.
// Specific-before-general orders produce nothing. Rules with an invalid path
// are skipped: apirule-path reports them. stopped is the index of the first
// rule left unchecked when ctx ended, -1 when all were.
//
// Two paths whose first segments are different literals never match the
// same request, so a rule is compared only with earlier rules that start
// with its literal or with an operator: linear for the usual APIRule, whose
// rules start with a few literal prefixes, and quadratic only in rules that
// start with an operator.
func ruleOrderFindings(ctx context.Context, rules []apirule.Rule, rulesPath *field.Path) (deny, warn field.ErrorList, stopped int) {
	patterns := make([]pathPattern, len(rules))
	valid := make([]bool, len(rules))
	for i, rule := range rules {
		patterns[i], valid[i] = parsePathPattern(rule.Path)
	}
	byFirst := map[string][]int{} // earlier valid rules by literal first segment
	var operators []int           // earlier valid rules starting with an operator
	var all []int                 // every earlier valid rule
	for j := range rules {
		if ctx.Err() != nil {
			return deny, warn, j
		}
		if !valid[j] {
			continue
		}
		candidates := all
		if first := patterns[j][0]; first.kind == segLiteral {
			candidates = mergeSorted(byFirst[first.lit], operators)
		}
		shadowed := map[string]bool{}
		warned := false
		for _, i := range candidates {
			if normalizedRulePath(rules[i].Path) == normalizedRulePath(rules[j].Path) {
				continue
			}
			var shared []string
			for _, m := range sharedMethods(rules[i].Methods, rules[j].Methods) {
				if !shadowed[m] {
					shared = append(shared, m)
				}
			}
			if len(shared) == 0 {
				continue
			}
			fld := rulesPath.Index(j).Child("path")
			switch {
			case patternContains(patterns[i], patterns[j]):
				for _, m := range shared {
					shadowed[m] = true
				}
				deny = append(deny, field.Invalid(fld, rules[j].Path, fmt.Sprintf(
					"never reached for %s: rule %d (path %q) comes first and matches all these requests; move this rule above rule %d or narrow rule %d's path",
					strings.Join(shared, ", "), i, rules[i].Path, i, i)))
			case patternContains(patterns[j], patterns[i]):
				// Specific before general: the intended order.
			case !warned:
				if example, ok := patternOverlap(patterns[i], patterns[j]); ok {
					warned = true
					warn = append(warn, field.Invalid(fld, rules[j].Path, fmt.Sprintf(
						"overlaps rule %d (path %q) for %s: requests matching both, such as %s, go to rule %d and the rest to this rule; reorder or narrow the paths if that is not intended",
						i, rules[i].Path, strings.Join(shared, ", "), example, i)))
				}
			}
		}
		all = append(all, j)
		if first := patterns[j][0]; first.kind == segLiteral {
			byFirst[first.lit] = append(byFirst[first.lit], j)
		} else {
			operators = append(operators, j)
		}
	}
	return deny, warn, -1
}

// mergeSorted merges two ascending index lists.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// normalizedRulePath reads `/*` as `/{**}`, as Kyma does.
func normalizedRulePath(p string) string {
	if p == "/*" {
		return "/{**}"
	}
	return p
}

// sharedMethods lists the methods of later that earlier also has, in later's
// order, without repeats.
func sharedMethods(earlier, later []string) []string {
	in := map[string]bool{}
	for _, m := range earlier {
		in[m] = true
	}
	var out []string
	for _, m := range later {
		if in[m] {
			out = append(out, m)
			in[m] = false
		}
	}
	return out
}

// A path pattern is a list of segments: the path without its leading slash,
// split at every slash ("/" is one empty segment). Kyma translates the
// operators to regular expressions of Envoy: `{*}` is one non-empty segment
// and `{**}` is any rest of the path, slashes included. In segments, `{**}`
// is one or more segments of any content: `/a/{**}` matches `/a/` and
// `/a/b/c` but not `/a`, and `/{**}/x` matches `/b/x` and `/b/c/x`.
type pathPattern []pathSegment

type segmentKind int

const (
	segLiteral segmentKind = iota
	segOne                 // {*}
	segRest                // {**}
)

type pathSegment struct {
	kind segmentKind
	lit  string
}

func (s pathSegment) String() string {
	switch s.kind {
	case segOne:
		return "{*}"
	case segRest:
		return "{**}"
	}
	return s.lit
}

// parsePathPattern reads a rule path; ok is false for a path that
// rulePathProblem rejects.
func parsePathPattern(p string) (pathPattern, bool) {
	if rulePathProblem(p) != "" {
		return nil, false
	}
	p = normalizedRulePath(p)
	var out pathPattern
	for _, s := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		switch s {
		case "{*}":
			out = append(out, pathSegment{kind: segOne})
		case "{**}":
			out = append(out, pathSegment{kind: segRest})
		default:
			out = append(out, pathSegment{kind: segLiteral, lit: s})
		}
	}
	return out, true
}

// The checks below treat a pattern as a finite automaton over segments. Which
// segment a request has only matters through its class: one of the literals
// the two patterns name (the empty segment included), or "other", a non-empty
// segment that no literal names. Both questions are then exact.

type segClass struct {
	other bool
	lit   string
}

func segClasses(a, b pathPattern) []segClass {
	seen := map[string]bool{"": true}
	classes := []segClass{{lit: ""}, {other: true}}
	for _, p := range []pathPattern{a, b} {
		for _, s := range p {
			if s.kind == segLiteral && !seen[s.lit] {
				seen[s.lit] = true
				classes = append(classes, segClass{lit: s.lit})
			}
		}
	}
	return classes
}

func (s pathSegment) accepts(c segClass) bool {
	switch s.kind {
	case segOne:
		return c.other || c.lit != ""
	case segRest:
		return true
	}
	return !c.other && c.lit == s.lit
}

// step lists the states a pattern reaches from state st (the number of
// segments matched so far) on one segment of class c. After a `{**}` the
// pattern may stay where it is: that operator takes one or more segments.
func (p pathPattern) step(st int, c segClass) []int {
	var out []int
	if st < len(p) && p[st].accepts(c) {
		out = append(out, st+1)
	}
	if st > 0 && p[st-1].kind == segRest {
		out = append(out, st)
	}
	return out
}

// patternContains reports whether outer matches every path inner matches.
func patternContains(outer, inner pathPattern) bool {
	classes := segClasses(outer, inner)
	type pair struct {
		in  int
		out string // the set of outer states, as a bitmap of bytes
	}
	key := func(set []bool) string {
		b := make([]byte, len(set))
		for i, v := range set {
			if v {
				b[i] = 1
			}
		}
		return string(b)
	}
	start := make([]bool, len(outer)+1)
	start[0] = true
	seen := map[pair]bool{}
	queue := []struct {
		in  int
		out []bool
	}{{0, start}}
	seen[pair{0, key(start)}] = true
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur.in == len(inner) && !cur.out[len(outer)] {
			return false
		}
		for _, c := range classes {
			next := make([]bool, len(outer)+1)
			for st, on := range cur.out {
				if on {
					for _, n := range outer.step(st, c) {
						next[n] = true
					}
				}
			}
			k := key(next)
			for _, in := range inner.step(cur.in, c) {
				if !seen[pair{in, k}] {
					seen[pair{in, k}] = true
					queue = append(queue, struct {
						in  int
						out []bool
					}{in, next})
				}
			}
		}
	}
	return true
}

// patternOverlap reports whether some path matches both patterns, and gives
// the shortest such path as an example.
func patternOverlap(a, b pathPattern) (string, bool) {
	classes := segClasses(a, b)
	type state struct{ a, b int }
	type via struct {
		from  state
		class segClass
	}
	parent := map[state]via{}
	start := state{0, 0}
	seen := map[state]bool{start: true}
	queue := []state{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur.a == len(a) && cur.b == len(b) {
			var segs []string
			other := otherSegment(classes)
			for s := cur; s != start; s = parent[s].from {
				c := parent[s].class
				seg := c.lit
				if c.other {
					seg = other
				}
				segs = append([]string{seg}, segs...)
			}
			return "/" + strings.Join(segs, "/"), true
		}
		for _, c := range classes {
			for _, na := range a.step(cur.a, c) {
				for _, nb := range b.step(cur.b, c) {
					n := state{na, nb}
					if !seen[n] {
						seen[n] = true
						parent[n] = via{cur, c}
						queue = append(queue, n)
					}
				}
			}
		}
	}
	return "", false
}

// otherSegment names a segment no literal of the patterns uses.
func otherSegment(classes []segClass) string {
	used := map[string]bool{}
	for _, c := range classes {
		used[c.lit] = true
	}
	name := "x"
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("x%d", i)
	}
	return name
}
