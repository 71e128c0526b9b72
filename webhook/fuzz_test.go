package webhook

// FuzzAdmissionReview: arbitrary request bodies through controller-runtime's
// admission.Webhook and gatewarden's Handler (validate and mutate), the way
// the API server reaches them, with in-memory cluster state and issuers.
// Panic recovery is off so a panic anywhere in the review path is a finding.
// Every answer must be HTTP 200 with a JSON AdmissionReview holding a
// response; a refusal carries a status; a patch is a JSON Patch.
//
//	go test -run '^$' -fuzz '^FuzzAdmissionReview$' -fuzztime 30s ./webhook/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

// fuzzTrust answers every issuer with a matching discovery document and a
// usable key set, except issuers containing "down" (network error) or
// "wrong" (discovery names another issuer).
type fuzzTrust struct{}

func (fuzzTrust) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	if strings.Contains(issuer, "down") {
		return nil, &trust.FetchError{URL: trust.DiscoveryURL(issuer), Kind: trust.Network, Err: context.DeadlineExceeded}
	}
	d := &trust.Discovery{Issuer: issuer, JWKSURI: strings.TrimSuffix(issuer, "/") + "/jwks"}
	if strings.Contains(issuer, "wrong") {
		d.Issuer = "https://other.example.com"
	}
	return d, nil
}

func (fuzzTrust) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	if strings.Contains(uri, "down") {
		return nil, &trust.FetchError{URL: uri, Kind: trust.Network, Err: context.DeadlineExceeded}
	}
	return &trust.KeySet{Raw: []byte(`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"k",` +
		`"x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`)}, nil
}

func fuzzWebhooks(f testing.TB) (validate, mutate *admission.Webhook) {
	st, err := cluster.FromObjects([]runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "off", Labels: map[string]string{"gatewarden.io/enforcement": "off"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ingress", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cred", Namespace: "istio-system"}, Data: map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")}},
	}...)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	rv := &review.Reviewer{Config: config.Default(), Cluster: st, Trust: fuzzTrust{}, Now: func() time.Time { return now }}
	noRecover := false
	validate = &admission.Webhook{Handler: &Handler{Reviewer: rv, Budget: 5 * time.Second}, RecoverPanic: &noRecover}
	mutate = &admission.Webhook{Handler: &Handler{Reviewer: rv, Mutate: true, Budget: 5 * time.Second}, RecoverPanic: &noRecover}
	return validate, mutate
}

// post sends body to wh as the API server does.
func post(wh *admission.Webhook, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, ValidatePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	return rec
}

// seedReview is an AdmissionReview body as the API server sends it.
func seedReview(group, version, kind, resource, op, ns string, object string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",`+
		`"kind":{"group":%q,"version":%q,"kind":%q},"resource":{"group":%q,"version":%q,"resource":%q},`+
		`"namespace":%q,"name":"x","operation":%q,"userInfo":{"username":"fuzz"},"object":%s,"oldObject":null,"dryRun":true}}`,
		group, version, kind, group, version, resource, ns, op, object))
}

func FuzzAdmissionReview(f *testing.F) {
	validate, mutate := fuzzWebhooks(f)
	objects := []struct{ group, version, kind, resource, object string }{
		{"gateway.kyma-project.io", "v2", "APIRule", "apirules", `{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","metadata":{"name":"x","namespace":"default"},"spec":{"hosts":["x.local.kyma.dev"],"service":{"name":"httpbin","port":8000},"rules":[{"path":"/{**}","methods":["GET"],"jwt":{"authentications":[{"issuer":"https://issuer.example.com"}]}},{"path":"/x","methods":["GET"],"noAuth":true}]}}`},
		{"gateway.kyma-project.io", "v2alpha1", "APIRule", "apirules", `{"metadata":{"name":"x"},"spec":{"hosts":["x"],"gateway":"kyma-system/nope","service":{"name":"httpbin","port":1},"rules":[{"path":"/*","jwt":{"authentications":[{"issuer":"https://down.example.com"},{"issuer":"https://wrong.example.com","jwksUri":"https://down.example.com/jwks"}]}}]}}`},
		{"gateway.kyma-project.io", "v1beta1", "APIRule", "apirules", `{"metadata":{"name":"x"},"spec":{"host":"x","service":{"name":"httpbin","port":8000},"rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"jwt","config":{"trusted_issuers":["https://issuer.example.com"]}}]}]}}`},
		{"networking.istio.io", "v1", "Gateway", "gateways", `{"metadata":{"name":"g"},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*"],"tls":{"mode":"MUTUAL","credentialName":"cred"}}]}}`},
		{"networking.istio.io", "v1alpha3", "Gateway", "gateways", `{"spec":{"servers":[{"port":{"number":443,"protocol":"HTTPS"},"tls":{"mode":"SIMPLE"}}]}}`},
		{"security.istio.io", "v1", "RequestAuthentication", "requestauthentications", `{"spec":{"jwtRules":[{"issuer":"https://issuer.example.com"},{"issuer":"x","jwks":"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}"}]}}`},
		{"security.istio.io", "v1beta1", "AuthorizationPolicy", "authorizationpolicies", `{"spec":{"action":"CUSTOM","provider":{"name":"oauth2-proxy"},"rules":[{"to":[{"operation":{"paths":["/x"]}}]}]}}`},
		{"", "v1", "ConfigMap", "configmaps", `{"data":{"a":"b"}}`},
	}
	for i, o := range objects {
		for _, op := range []string{"CREATE", "UPDATE", "DELETE", "CONNECT"} {
			ns := "default"
			if i%3 == 2 {
				ns = "off"
			}
			f.Add(seedReview(o.group, o.version, o.kind, o.resource, op, ns, o.object), op == "CREATE")
		}
		f.Add(seedReview(o.group, o.version, o.kind, o.resource, "CREATE", "", `null`), false)
		f.Add(seedReview(o.group, o.version, o.kind, o.resource, "CREATE", "default", `{"spec":[]}`), true)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"request":null}`, `{"request":{}}`, `{"request":{"uid":"u","kind":{"kind":"APIRule"},"operation":"CREATE"}}`,
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.istio.io","version":"v1","kind":"Gateway"},"operation":"CREATE","object":{"spec":{"servers":null}}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.istio.io","version":"v9","kind":"Gateway"},"operation":"UPDATE","object":{}}}`,
		`{"apiVersion":"v1","kind":"Pod"}`, "\x00\xff", `{"request":{"object":"` + strings.Repeat("a", 1000) + `"}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}

	f.Fuzz(func(t *testing.T, body []byte, mutating bool) {
		wh := validate
		if mutating {
			wh = mutate
		}
		rec := post(wh, body)

		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
		}
		out := rec.Body.Bytes()
		if !json.Valid(out) {
			t.Fatalf("answer is not JSON: %q", out)
		}
		var rev admissionv1.AdmissionReview
		if err := json.Unmarshal(out, &rev); err != nil {
			t.Fatalf("answer is not an AdmissionReview: %v: %s", err, out)
		}
		r := rev.Response
		if r == nil {
			t.Fatalf("AdmissionReview without a response: %s", out)
		}
		if !r.Allowed && (r.Result == nil || (r.Result.Message == "" && r.Result.Code == 0)) {
			t.Fatalf("refusal without a status: %s", out)
		}
		if len(r.Patch) > 0 {
			if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patch without JSONPatch type: %s", out)
			}
			var ops []map[string]any
			if err := json.Unmarshal(r.Patch, &ops); err != nil {
				t.Fatalf("patch is not a JSON Patch: %v: %s", err, r.Patch)
			}
		}
	})
}
