package webhook

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// serve sends one AdmissionReview body to the Handler, as the API server
// does.
func serve(t *testing.T, mutating bool, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	validate, mutate := fuzzWebhooks(t)
	wh := validate
	if mutating {
		wh = mutate
	}
	rec := post(wh, body)
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &rev); err != nil || rev.Response == nil {
		t.Fatalf("not an AdmissionReview answer (%v): %s", err, rec.Body.Bytes())
	}
	return rev.Response
}

func TestHandlerAnswers(t *testing.T) {
	const mutualNoCA = `{"metadata":{"name":"g","namespace":"default"},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"MUTUAL"}}]}}`
	const apiRuleV3 = `{"apiVersion":"gateway.kyma-project.io/v3","kind":"APIRule","metadata":{"name":"x","namespace":"default"},"spec":{"anything":true}}`
	const tlsNoMin = `{"metadata":{"name":"g","namespace":"default"},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"SIMPLE","credentialName":"cred"}}]}}`
	tests := []struct {
		name     string
		mutating bool
		body     []byte
		allowed  bool
		code     int32  // of a refusal
		want     string // in the message, a warning or the patch
	}{
		{"gateway denied with field path and check", false, seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", mutualNoCA),
			false, http.StatusUnprocessableEntity, "spec.servers[0].tls.credentialName"},
		{"unknown APIRule version admitted unchecked", false, seedReview("gateway.kyma-project.io", "v3", "APIRule", "apirules", "CREATE", "default", apiRuleV3),
			true, 0, "not checked by gatewarden"},
		{"unknown APIRule version not mutated", true, seedReview("gateway.kyma-project.io", "v3", "APIRule", "apirules", "CREATE", "default", apiRuleV3),
			true, 0, ""},
		{"unknown Gateway version admitted unchecked", false, seedReview("networking.istio.io", "v9", "Gateway", "gateways", "UPDATE", "default", mutualNoCA),
			true, 0, "not checked by gatewarden"},
		{"delete is not reviewed", false, seedReview("networking.istio.io", "v1", "Gateway", "gateways", "DELETE", "default", mutualNoCA),
			true, 0, ""},
		{"exempt namespace", false, seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "off", mutualNoCA),
			true, 0, ""},
		{"mutate defaults minProtocolVersion", true, seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", tlsNoMin),
			true, 0, "/spec/servers/0/tls/minProtocolVersion"},
		{"no object", false, seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", `null`),
			false, http.StatusBadRequest, "has no object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(t, tc.mutating, tc.body)
			if r.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v: %+v", r.Allowed, tc.allowed, r.Result)
			}
			var said []string
			if r.Result != nil {
				said = append(said, r.Result.Message)
			}
			said = append(said, r.Warnings...)
			said = append(said, string(r.Patch))
			if !tc.allowed && r.Result.Code != tc.code {
				t.Errorf("code %d, want %d", r.Result.Code, tc.code)
			}
			if tc.want != "" && !strings.Contains(strings.Join(said, "\n"), tc.want) {
				t.Errorf("answer does not mention %q: %q", tc.want, said)
			}
			if tc.want == "" && (len(r.Warnings) > 0 || len(r.Patch) > 0) {
				t.Errorf("want a plain admission, got warnings %q patch %s", r.Warnings, r.Patch)
			}
		})
	}
}

// The answer is an AdmissionReview of the request's version echoing its UID,
// whatever the request: HTTP 200, refusals in the status.
func TestHandlerEnvelope(t *testing.T) {
	validate, _ := fuzzWebhooks(t)
	const generated = `{"metadata":{"generateName":"gw-","namespace":"default"},"spec":{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"MUTUAL"}}]}}`
	v1beta1 := strings.Replace(string(seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", generated)),
		`"admission.k8s.io/v1"`, `"admission.k8s.io/v1beta1"`, 1)
	v1beta1 = strings.Replace(v1beta1, `"name":"x",`, "", 1)
	tests := []struct {
		name        string
		contentType string
		body        string
		apiVersion  string
		code        int32
		want        string
	}{
		{"v1beta1 answered in v1beta1, named by generateName", "application/json", v1beta1, "admission.k8s.io/v1beta1", http.StatusUnprocessableEntity, `Gateway "gw-" is invalid`},
		{"not JSON", "application/json", `{`, "admission.k8s.io/v1", http.StatusBadRequest, "not an AdmissionReview"},
		{"no request", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "admission.k8s.io/v1", http.StatusBadRequest, "no request"},
		{"wrong content type", "text/plain", string(seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", generated)), "admission.k8s.io/v1", http.StatusBadRequest, "contentType=text/plain"},
		{"too large", "application/json", `{"request":{"object":"` + strings.Repeat("a", MaxRequestBytes) + `"}}`, "admission.k8s.io/v1", http.StatusRequestEntityTooLarge, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, ValidatePath, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			rec := httptest.NewRecorder()
			validate.ServeHTTP(rec, req)
			var rev admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &rev); err != nil || rev.Response == nil || rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d, not an AdmissionReview answer (%v): %s", rec.Code, err, rec.Body.Bytes())
			}
			if rev.APIVersion != tc.apiVersion || rev.Kind != "AdmissionReview" {
				t.Errorf("answered as %s %s, want %s AdmissionReview", rev.APIVersion, rev.Kind, tc.apiVersion)
			}
			r := rev.Response
			if r.Allowed || r.Result == nil || r.Result.Code != tc.code || !strings.Contains(r.Result.Message, tc.want) {
				t.Errorf("answer %+v, want refused with %d mentioning %q", r.Result, tc.code, tc.want)
			}
			if tc.code == http.StatusUnprocessableEntity && r.UID != "u-1" {
				t.Errorf("uid %q, want the request's", r.UID)
			}
		})
	}
}
