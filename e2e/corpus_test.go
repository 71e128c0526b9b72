package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// corpusE2E is the part of examples/corpus sent through the real API server
// and the webhook: cases whose state needs no mesh config (which other tests
// would see), whose issuers need no fetch (no network here), and whose object
// passes the CRD schemas, so the verdict is gatewarden's. The offline verdicts
// of all cases are examples/corpus_test.go's business; here the same
// expectations must hold when the API server serves the state objects.
var corpusE2E = []string{
	"apirule-v2-noauth-short-host",
	"apirule-v2-gateway-v1alpha3-state",
	"apirule-v2-gateway-missing",
	"apirule-v2-host-taken-vs-v1beta1",
	"apirule-v2-service-port-wrong",
	"apirule-v2-service-externalname",
	"apirule-v2-sidecar-missing",
	"apirule-v2-sidecar-native",
	"apirule-v2-short-host-ns-scoped-gateway",
	"apirule-v2-rule-duplicate",
	"apirule-v2-rule-overlap",
	"apirule-v1beta1-noop",
	"apirule-v1beta1-gateway-missing",
	"gateway-simple-ok",
	"gateway-simple-credential-cacert-suffix",
	"gateway-mutual-no-ca",
	"gateway-mutual-expired-ca-in-bundle",
	"gateway-mutual-empty-cacert-fallback",
	"gateway-mutual-cacertcredentialname-secret",
	"gateway-v1alpha3-mutual-ok",
	"gateway-https-without-tls",
	"authorizationpolicy-root-selector-allow-all",
	"authorizationpolicy-deny-without-rules",
	"authorizationpolicy-selector-no-workload",
}

// corpusExpectation is one "# expect:" line of a case file (the format is
// described in examples/corpus_test.go).
type corpusExpectation struct {
	kind, name string
	allowed    bool
	deny, warn []string
}

type corpusCase struct {
	sources []string
	expect  []corpusExpectation
	objects []*unstructured.Unstructured
}

func readCorpusCase(t *testing.T, path string) corpusCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c corpusCase
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if src, ok := strings.CutPrefix(body, "source:"); ok {
			c.sources = append(c.sources, strings.TrimSpace(src))
		}
		exp, ok := strings.CutPrefix(body, "expect:")
		if !ok {
			continue
		}
		f := strings.Fields(exp)
		kind, name, _ := strings.Cut(f[0], "/")
		e := corpusExpectation{kind: kind, name: name, allowed: f[1] == "allowed"}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "deny":
				e.deny = strings.Split(v, ",")
			case "warn":
				e.warn = strings.Split(v, ",")
			}
		}
		slices.Sort(e.deny)
		c.expect = append(c.expect, e)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			c.objects = append(c.objects, u)
		}
	}
	if len(c.expect) == 0 || len(c.sources) == 0 {
		t.Fatalf("%s: no # source: or # expect: line", path)
	}
	return c
}

func (c corpusCase) underTest(u *unstructured.Unstructured) *corpusExpectation {
	for i, e := range c.expect {
		if u.GetKind() == e.kind && u.GetName() == e.name {
			return &c.expect[i]
		}
	}
	return nil
}

// checkIDPattern finds the check IDs that end gatewarden's messages.
var checkIDPattern = regexp.MustCompile(`\[([a-z0-9]+(?:-[a-z0-9]+)+)\]`)

func checkIDsIn(texts ...string) []string {
	var ids []string
	for _, s := range texts {
		for _, m := range checkIDPattern.FindAllStringSubmatch(s, -1) {
			ids = append(ids, m[1])
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// corpusVerdict is what the API server answered a dry-run create.
type corpusVerdict struct {
	allowed    bool
	deny, warn []string
	err        error
}

func (v corpusVerdict) mismatch(e *corpusExpectation) string {
	var diffs []string
	if v.allowed != e.allowed {
		diffs = append(diffs, fmt.Sprintf("allowed = %v", v.allowed))
	}
	if !slices.Equal(v.deny, e.deny) {
		diffs = append(diffs, fmt.Sprintf("denied by %v, want %v", v.deny, e.deny))
	}
	for _, w := range e.warn {
		if !slices.Contains(v.warn, w) {
			diffs = append(diffs, fmt.Sprintf("no %s warning (warnings from %v)", w, v.warn))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return strings.Join(diffs, "; ")
}

// TestCorpusThroughAPIServer creates each case's cluster state, then sends
// the objects under test as server-side dry-run creates and compares the
// admission verdict with the case's expectations.
func TestCorpusThroughAPIServer(t *testing.T) {
	for _, name := range corpusE2E {
		t.Run(name, func(t *testing.T) {
			path := "../examples/corpus/" + name + ".yaml"
			c := readCorpusCase(t, path)
			ctx := context.Background()
			cl, w := newClient(t)
			var tested []*unstructured.Unstructured
			var state []*unstructured.Unstructured
			for _, u := range c.objects {
				if c.underTest(u) != nil {
					tested = append(tested, u)
				} else {
					state = append(state, u)
				}
			}
			// Namespaces first: everything else may live in one.
			slices.SortStableFunc(state, func(a, b *unstructured.Unstructured) int {
				return boolRank(a.GetKind() != "Namespace") - boolRank(b.GetKind() != "Namespace")
			})
			for _, u := range state {
				createCorpusState(t, cl, u)
			}
			for _, u := range tested {
				e := c.underTest(u)
				var v corpusVerdict
				// The webhook reads the state from its informer cache, which
				// follows the writes above shortly after.
				for i := 0; i < 50; i++ {
					v = dryRunCreate(ctx, cl, w, u)
					if v.mismatch(e) == "" {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if m := v.mismatch(e); m != "" {
					t.Errorf("%s (source: %s): %s/%s: %s\nadmission answer: %v", path, strings.Join(c.sources, ", "), e.kind, e.name, m, v.err)
				}
			}
		})
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// createCorpusState creates one state object and deletes it after the test;
// an object that already exists (a shared one such as kyma-system/kyma-gateway)
// is left as it is.
func createCorpusState(t *testing.T, cl client.Client, u *unstructured.Unstructured) {
	t.Helper()
	obj := u.DeepCopy()
	err := cl.Create(context.Background(), obj)
	switch {
	case apierrors.IsAlreadyExists(err):
		return
	case err != nil:
		t.Fatalf("creating state %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), obj) })
}

func dryRunCreate(ctx context.Context, cl client.Client, w *warnings, u *unstructured.Unstructured) corpusVerdict {
	before := len(w.all())
	err := cl.Create(ctx, u.DeepCopy(), client.DryRunAll)
	warns := w.all()[before:]
	v := corpusVerdict{allowed: err == nil, warn: checkIDsIn(warns...), err: err}
	if err != nil {
		v.deny = checkIDsIn(err.Error())
	}
	return v
}
