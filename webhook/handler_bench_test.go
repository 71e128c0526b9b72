package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/hack/bench/floor"
	"github.com/gatewarden/gatewarden/hack/bench/loadgen"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/cluster/informertest"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// benchJWKS is one RSA-2048 public key.
var benchJWKS = []byte(`{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1","e":"AQAB","n":"` +
	"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw" +
	`"}]}`)

// benchIssuer is a loopback OIDC issuer with one key, and a resolver that
// trusts it.
func benchIssuer(b testing.TB) (string, trust.Resolver) {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_, _ = fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+"/jwks")
		case "/jwks":
			_, _ = w.Write(benchJWKS)
		default:
			http.NotFound(w, r)
		}
	}))
	b.Cleanup(srv.Close)
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	res, err := trust.New(trust.Options{CAFile: caFile, AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		b.Fatal(err)
	}
	return srv.URL, res
}

// benchObjects are the cluster the bench objects refer to (loadgen's setup:
// the kyma-gateway and httpbin), their namespaces and workloads, and stored
// APIRules of other hosts.
func benchObjects(b testing.TB, stored int) []client.Object {
	var objs []client.Object
	for _, o := range loadgen.SetupObjects() {
		u := &unstructured.Unstructured{Object: o}
		typed, err := cluster.Scheme.New(u.GroupVersionKind())
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(o)
		if err := json.Unmarshal(raw, typed); err != nil {
			b.Fatal(err)
		}
		objs = append(objs, typed.(client.Object))
	}
	for _, ns := range []string{"default", "kyma-system", "istio-system"} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	// The workload is in the mesh: without a sidecar, Kyma refuses the
	// APIRule and so does the sidecar check.
	workload := informertest.PodMeta("default", "httpbin-1", map[string]string{"app": "httpbin"})
	workload.SetAnnotations(map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`})
	objs = append(objs, workload,
		informertest.PodMeta("istio-system", "ingress-1", map[string]string{"istio": "ingressgateway"}))
	for i := range stored {
		u := &unstructured.Unstructured{Object: loadgen.APIRuleV2(fmt.Sprintf("stored-%05d", i), fmt.Sprintf("stored-%05d.local.kyma.dev", i), "https://issuer.example.com")}
		u.SetNamespace(fmt.Sprintf("ns-%03d", i%100))
		objs = append(objs, u)
	}
	return objs
}

// admission is one kind's mutate and validate requests, ready to send.
type admission struct {
	mutate, validate []byte
}

func benchAdmission(b testing.TB, kind, issuer string) admission {
	reqs, err := loadgen.KindRequests(kind, issuer)
	if err != nil {
		b.Fatal(err)
	}
	uid := []byte("11111111-2222-4333-8444-555555555555")
	out := admission{}
	for _, r := range reqs {
		body := bytes.Replace(r.Body, []byte(loadgen.UIDPlaceholder), uid, 1)
		if r.Path == MutatePath {
			out.mutate = body
		} else {
			out.validate = body
		}
	}
	return out
}

// send posts both requests of one admission to h, as the API server does for
// one write, and returns the validating answer.
func (a admission) send(b testing.TB, mutate, validate http.Handler) []byte {
	for i, x := range []struct {
		h    http.Handler
		body []byte
	}{{mutate, a.mutate}, {validate, a.validate}} {
		req := httptest.NewRequest(http.MethodPost, ValidatePath, bytes.NewReader(x.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		x.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
		}
		if i == 1 {
			return rec.Body.Bytes()
		}
	}
	return nil
}

// benchServer is gatewarden's two handlers over the informer-backed state
// serve reads (cluster.FromCache over informertest's cache), with a warm
// trust cache.
func benchServer(b testing.TB, stored int, res trust.Resolver) (mutate, validate http.Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	c, err := informertest.New(ctx, nil, nil, benchObjects(b, stored)...)
	if err != nil {
		b.Fatal(err)
	}
	rv := &review.Reviewer{Config: config.Default(), Cluster: cluster.FromCache(c), Trust: res}
	budget := func(ctx context.Context) context.Context {
		return trust.WithFetchBudget(ctx, trust.DefaultObjectFetches, trust.DefaultObjectFetchConcurrency)
	}
	return &Handler{Reviewer: rv, Mutate: true, Budget: 3 * time.Second, Context: budget},
		&Handler{Reviewer: rv, Budget: 3 * time.Second, Context: budget}
}

// BenchmarkAdmission measures one admission (the mutating and the validating
// request of one write) per kind through gatewarden's handlers and through
// the bare floor (hack/bench/floor: decode the AdmissionReview, answer
// allowed), without TLS and HTTP: the work gatewarden adds per write. The
// APIRule runs again with 10,000 APIRules stored, which must cost the same.
func BenchmarkAdmission(b *testing.B) {
	issuer, res := benchIssuer(b)
	mutate, validate := benchServer(b, 0, res)
	mutate10k, validate10k := benchServer(b, 10000, res)
	fl := floor.Handler()
	for _, kind := range loadgen.Kinds {
		a := benchAdmission(b, kind, issuer)
		// Warm: the trust cache, the informers of kinds read lazily.
		want := kind == "Gateway"
		if denied := !bytes.Contains(a.send(b, mutate, validate), []byte(`"allowed":true`)); denied != want {
			b.Fatalf("%s: denied %v, want %v: %s", kind, denied, want, a.send(b, mutate, validate))
		}
		b.Run("floor/"+kind, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.send(b, fl, fl)
			}
		})
		b.Run("gatewarden/"+kind, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.send(b, mutate, validate)
			}
		})
	}
	a := benchAdmission(b, "APIRule", issuer)
	a.send(b, mutate10k, validate10k)
	b.Run("gatewarden/APIRule/stored=10000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.send(b, mutate10k, validate10k)
		}
	})
}
