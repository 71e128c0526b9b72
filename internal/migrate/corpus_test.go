package migrate

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/manifest"
	"github.com/gatewarden/gatewarden/internal/trust"
)

var update = flag.Bool("update", false, "rewrite the corpus's .golden files")

type goldenResult struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Source    string         `json:"source"`
	Status    Status         `json:"status"`
	Notes     []string       `json:"notes,omitempty"`
	Refusals  []string       `json:"refusals,omitempty"`
	Object    map[string]any `json:"object,omitempty"`
}

// TestCorpus migrates real v1beta1 APIRules (testdata/corpus, each file
// names its source) in a cluster with Kyma's gateway on local.kyma.dev, one
// registered authorizer, and discovery documents for the IdPs they name;
// the .golden files hold the expected results (go test -update rewrites
// them).
func TestCorpus(t *testing.T) {
	lookup := kymaLookup()
	lookup.mesh = &cluster.Mesh{RootNamespace: "istio-system", KymaAuthorizers: []string{"oauth2-proxy"}}
	env := Env{Lookup: lookup, Trust: fakeTrust{
		"https://tenant.accounts.ondemand.com": {Issuer: "https://tenant.accounts.ondemand.com", JWKSURI: "https://tenant.accounts.ondemand.com/oauth2/certs"},
		"http://dex.kyma.local":                {Issuer: "http://dex.kyma.local", JWKSURI: "http://dex.kyma.local/keys"},
	}}
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("corpus: %v, %d files", err, len(files))
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.yaml") {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			objs, err := manifest.Read([]string{file}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []goldenResult
			for _, o := range objs {
				rule, from, ok, err := FromObject(o.Unstructured)
				if !ok || err != nil {
					t.Fatalf("%s: not read as v1beta1: ok=%v err=%v", o.Source, ok, err)
				}
				res := Convert(context.Background(), Input{Rule: rule, Source: from}, env)
				g := goldenResult{Name: res.Name, Namespace: res.Namespace, Source: res.Source, Status: res.Status}
				for _, n := range res.Notes {
					g.Notes = append(g.Notes, n.String())
				}
				for _, e := range res.Refusals {
					g.Refusals = append(g.Refusals, e.Error())
				}
				if res.Object != nil {
					g.Object = toMap(t, res.Object)
					delete(g.Object["metadata"].(map[string]any), "creationTimestamp")
				}
				got = append(got, g)
			}
			out, err := yaml.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/migrate -run TestCorpus -update)", err)
			}
			if string(out) != string(want) {
				t.Errorf("result differs from %s:\n%s", golden, out)
			}
		})
	}
}

var _ trust.Resolver = fakeTrust{}
