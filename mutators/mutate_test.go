package mutators

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/core"
)

// Documents on which every default applies, with fields the Go types do not
// know at several depths.
var (
	fullV2 = `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule",` +
		`"metadata":{"name":"r","namespace":"default","annotations":{"keep":"me"},"futureMeta":1},` +
		`"spec":{"hosts":["a"],"futureSpec":{"x":[1,2]},"service":{"name":"one","futureSvc":true},` +
		`"rules":[{"path":"/*","methods":["GET"],"futureRule":"r","service":{"name":"one","namespace":"other"},` +
		`"jwt":{"authentications":[{"issuer":"https://idp.example.com","futureAuth":"a"}],"futureJWT":{}}},` +
		`{"path":"/x","methods":["GET"],"extAuth":{"authorizers":["z"],"restrictions":{"authentications":[{"issuer":"https://other.example.com"}]}}}]},` +
		`"status":{"state":"Ready","futureStatus":"s"}}`
	fullV1beta1 = `{"apiVersion":"gateway.kyma-project.io/v1beta1","kind":"APIRule","metadata":{"name":"r","namespace":"default"},` +
		`"spec":{"host":"a","gateway":"kyma-system/kyma-gateway","service":{"name":"one"},"futureSpec":"s",` +
		`"rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"jwt","config":{"trusted_issuers":["https://idp.example.com"],"futureCfg":[true]}}]}]}}`
	fullGateway = `{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"g","namespace":"default"},` +
		`"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*.example.com"],` +
		`"tls":{"mode":"SIMPLE","credentialName":"c","futureTLS":"t"},"futureServer":1}],"futureGateway":"g"}}`
)

var fullDocs = []struct {
	name string
	gvk  schema.GroupVersionKind
	raw  string
	ops  int // defaults expected, annotation excluded
}{
	{"v2", apirule.V2, fullV2, 5},
	{"v1beta1", apirule.V1beta1, fullV1beta1, 2},
	{"gateway", gatewayV1, fullGateway, 1},
}

func fullEnv(t *testing.T) *core.Env { return &core.Env{Cluster: stdCluster(t), Trust: stdTrust()} }

// leaves flattens a JSON document into pointer → value lines.
func leaves(t *testing.T, raw string) map[string]string {
	t.Helper()
	var doc any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(p+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(p+"/"+strconv.Itoa(i), c)
			}
		default:
			b, _ := json.Marshal(x)
			out[p] = string(b)
		}
	}
	walk("", doc)
	return out
}

func TestPatchKeepsEveryOtherField(t *testing.T) {
	for _, d := range fullDocs {
		t.Run(d.name, func(t *testing.T) {
			ops, warns := mutate(t, d.gvk, d.raw, fullEnv(t))
			if got := len(specOps(t, ops)); got != d.ops || len(warns) != 0 {
				t.Fatalf("%d defaults and warnings %v, want %d and none: %q", got, warns, d.ops, opLines(t, ops))
			}
			before, after := leaves(t, d.raw), leaves(t, apply(t, d.raw, ops))
			for p, v := range before {
				if after[p] != v {
					t.Errorf("%s was %s, is %s after the patch", p, v, after[p])
				}
			}
			if added := len(after) - len(before); added != d.ops+1 {
				t.Errorf("patch added %d leaves, want %d (defaults and the annotation)", added, d.ops+1)
			}
		})
	}
}

func TestIdempotent(t *testing.T) {
	for _, d := range fullDocs {
		t.Run(d.name, func(t *testing.T) {
			ops, _ := mutate(t, d.gvk, d.raw, fullEnv(t))
			once := apply(t, d.raw, ops)
			// decode again as a plain typed struct, as the next admission would
			typed := reflect.New(reflect.TypeOf(decode(t, d.gvk, d.raw)).Elem()).Interface()
			if err := json.Unmarshal([]byte(once), typed); err != nil {
				t.Fatal(err)
			}
			obj := &core.Object{GVK: d.gvk, Namespace: "default", Operation: "UPDATE", Typed: typed}
			again, warns := runObj(obj, fullEnv(t))
			if len(again) != 0 || len(warns) != 0 {
				t.Fatalf("second run: ops %q, warnings %v; want none", opLines(t, again), warns)
			}
			if twice := apply(t, once, again); twice != once {
				t.Fatalf("document changed on the second run:\n%s\n%s", once, twice)
			}
		})
	}
}

func TestIdempotentAfterFieldRemoved(t *testing.T) {
	// A user who deletes a defaulted field gets it back; the annotation
	// already lists it and does not grow.
	ops, _ := mutate(t, apirule.V2, fullV2, fullEnv(t))
	once := apply(t, fullV2, ops)
	var doc map[string]any
	_ = json.Unmarshal([]byte(once), &doc)
	delete(doc["spec"].(map[string]any), "gateway")
	ann := doc["metadata"].(map[string]any)["annotations"].(map[string]any)[AnnotationDefaulted]
	b, _ := json.Marshal(doc)
	again, _ := mutate(t, apirule.V2, string(b), fullEnv(t))
	want := []string{`add /spec/gateway "kyma-system/kyma-gateway"`}
	if got := opLines(t, again); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q (annotation %v unchanged)", got, want, ann)
	}
}

func TestDisabledDefaults(t *testing.T) {
	cases := []struct {
		disabled []string
		doc      int // index into fullDocs
		want     int // defaults left, annotation excluded
	}{
		{nil, 0, 5},
		{[]string{DefaultGateway}, 0, 4},
		{[]string{DefaultServicePort}, 0, 3},
		{[]string{DefaultJWKSURI}, 0, 3},
		{[]string{DefaultGateway, DefaultServicePort, DefaultJWKSURI}, 0, 0},
		{[]string{DefaultServicePort}, 1, 1},
		{[]string{DefaultJWKSURI}, 1, 1},
		{[]string{DefaultMinTLSVersion}, 2, 0},
	}
	for _, tc := range cases {
		d := fullDocs[tc.doc]
		env := fullEnv(t)
		env.Defaults.Disabled = tc.disabled
		ops, warns := mutate(t, d.gvk, d.raw, env)
		if got := len(specOps(t, ops)); got != tc.want || len(warns) != 0 {
			t.Errorf("%s disabled %v: %q, warnings %v; want %d defaults", d.name, tc.disabled, opLines(t, ops), warns, tc.want)
		}
		if tc.want == 0 && len(ops) != 0 {
			t.Errorf("%s disabled %v: annotation without defaults: %q", d.name, tc.disabled, opLines(t, ops))
		}
	}
}

func TestNothingToDo(t *testing.T) {
	if ops, warns := Run(context.Background(), &core.Object{Operation: "CREATE"}, fullEnv(t), APIRule); len(ops)+len(warns) != 0 {
		t.Errorf("nil object: ops %q, warnings %v; want none", opLines(t, ops), warns)
	}
	obj := &core.Object{GVK: apirule.V2, Operation: "CREATE", Typed: decode(t, apirule.V2, v2(`{"hosts":["a"]}`))}
	if ops, warns := Run(context.Background(), obj, fullEnv(t), nil); len(ops)+len(warns) != 0 {
		t.Errorf("kind without defaults: ops %q, warnings %v; want none", opLines(t, ops), warns)
	}
}
