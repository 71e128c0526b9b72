package main

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
)

// runCaptured runs the command line as main does and returns the exit code
// and what it wrote to stdout and stderr.
func runCaptured(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
	code = run(args)
	outF.Close()
	errF.Close()
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	return code, string(o), string(e)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const plainGatewayYAML = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: plain}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["plain.example.com"]
`

const mutualGatewayYAML = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mtls, namespace: team}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: MUTUAL, serverCertificate: /etc/certs/tls.crt, privateKey: /etc/certs/tls.key}
`

const secretYAML = `apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: team}
stringData: {a: b}
`

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCheckJSONFormatAndDenial(t *testing.T) {
	p := writeFile(t, "all.yaml", plainGatewayYAML+"---\n"+mutualGatewayYAML+"---\n"+secretYAML)
	code, out, errOut := runCaptured(t, "check", "-f", p, "-o", "json", "--no-network")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a denial); stderr: %s", code, errOut)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(doc) != 1 || doc["results"] == nil {
		t.Fatalf("top level = %v, want only results", out)
	}
	results := doc["results"]
	if len(results) != 2 {
		t.Fatalf("want 2 results (the Secret is not checked), got %d:\n%s", len(results), out)
	}
	wantKeys := []string{"allowed", "apiVersion", "kind", "name", "namespace", "patch", "violations", "warnings"}
	for _, r := range results {
		if got := keys(r); !reflect.DeepEqual(got, wantKeys) {
			t.Errorf("result keys = %v, want %v", got, wantKeys)
		}
		for _, k := range []string{"violations", "warnings", "patch"} {
			if _, ok := r[k].([]any); !ok {
				t.Errorf("%s of %v is %T, want a list (never null)", k, r["name"], r[k])
			}
		}
	}
	plain, mtls := results[0], results[1]
	if plain["name"] != "plain" || plain["namespace"] != "default" || plain["allowed"] != true ||
		plain["apiVersion"] != "networking.istio.io/v1" || plain["kind"] != "Gateway" {
		t.Errorf("plain = %v, want allowed Gateway plain in default", plain)
	}
	if mtls["name"] != "mtls" || mtls["namespace"] != "team" || mtls["allowed"] != false {
		t.Errorf("mtls = %v, want denied in team", mtls)
	}
	vs := mtls["violations"].([]any)
	if len(vs) == 0 {
		t.Fatal("no violations for the denied gateway")
	}
	v := vs[0].(map[string]any)
	if got := keys(v); !reflect.DeepEqual(got, []string{"check", "field", "message"}) {
		t.Errorf("violation keys = %v", got)
	}
	if v["check"] != "gateway-mtls-credential" || v["field"] != "spec.servers[0].tls.credentialName" || v["message"] == "" {
		t.Errorf("violation = %v", v)
	}
}

func TestCheckAllowedExitsZero(t *testing.T) {
	p := writeFile(t, "plain.yaml", plainGatewayYAML)
	code, out, errOut := runCaptured(t, "check", "-f", p, "--no-network", "-n", "team")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", code, errOut)
	}
	if !strings.Contains(out, "gateway.networking.istio.io/plain (namespace team, networking.istio.io/v1): allowed") {
		t.Errorf("text output does not show the allowed gateway in namespace team (-n):\n%s", out)
	}
}

func TestCheckBadInputExitsTwo(t *testing.T) {
	broken := writeFile(t, "broken.yaml", plainGatewayYAML+"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: [indent\n")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"broken yaml", []string{"check", "-f", broken}, []string{broken + ":", "line"}},
		{"no input", []string{"check"}, []string{"no input"}},
		{"bad output", []string{"check", "-f", broken, "-o", "yaml"}, []string{"--output"}},
		{"missing file", []string{"check", "-f", filepath.Join(t.TempDir(), "nope.yaml")}, []string{"nope.yaml"}},
		{"-A offline", []string{"check", "-A", "-f", broken}, []string{"--all-namespaces"}},
		{"--context offline", []string{"check", "--context", "x", "-f", broken}, []string{"--context needs --kubeconfig"}},
		{"bad kubeconfig", []string{"check", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, []string{"--kubeconfig"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCaptured(t, c.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, out, errOut)
			}
			if out != "" {
				t.Errorf("unusable input half-printed results: %q", out)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not mention %q", errOut, w)
				}
			}
		})
	}
}

func TestCheckBrokenYAMLNamesTheLine(t *testing.T) {
	// The broken document starts on line 10, after the 8-line gateway and
	// the separator.
	p := writeFile(t, "broken.yaml", plainGatewayYAML+"---\nkind: [unclosed\n")
	code, _, errOut := runCaptured(t, "check", "-f", p)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut, p+":10: ") {
		t.Errorf("stderr %q does not name %s and the document's line", errOut, p)
	}
}

func TestCheckNoNetworkWarns(t *testing.T) {
	p := writeFile(t, "ra.yaml", `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: team}
spec:
  jwtRules:
  - issuer: https://issuer.example.test
`)
	code, out, errOut := runCaptured(t, "check", "-f", p, "-o", "json", "--no-network")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (skips only warn); stderr %s", code, errOut)
	}
	var doc struct {
		Results []struct {
			Allowed  bool `json:"allowed"`
			Warnings []struct{ Check, Field, Message string }
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("bad output (%v):\n%s", err, out)
	}
	found := false
	for _, w := range doc.Results[0].Warnings {
		if strings.Contains(w.Message, "network checks were skipped (--no-network)") && w.Field == "spec.jwtRules[0].issuer" {
			found = true
		}
	}
	if !found {
		t.Errorf("no --no-network skip warning on spec.jwtRules[0].issuer: %+v", doc.Results[0].Warnings)
	}
}

// The secret and certificate checks see Pods, Secrets and Certificates read
// from files, as they would see them in a cluster: a Gardener Certificate
// still pending for the missing secret warns, one in Error denies quoting its
// message, and the namespace looked in is the gateway pods'.
func TestCheckGatewayCertificatesFromFiles(t *testing.T) {
	const objects = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: api, namespace: kyma-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [api.example.com]
    tls: {mode: SIMPLE, credentialName: api-cred, minProtocolVersion: TLSV1_2}
---
apiVersion: v1
kind: Pod
metadata: {name: ingressgateway-1, namespace: istio-system, labels: {istio: ingressgateway}}
spec: {containers: [{name: istio-proxy, image: proxy}]}
---
apiVersion: cert.gardener.cloud/v1alpha1
kind: Certificate
metadata: {name: api, namespace: istio-system}
spec: {secretName: api-cred, commonName: api.example.com}
`
	for _, tc := range []struct {
		state, message string
		code           int
		list           string
		want           []string
	}{
		{state: "Pending", code: 0, list: "warnings", want: []string{"certificate pending", `gardener Certificate "api"`, "istio-system"}},
		{state: "Error", message: "domain not allowed", code: 1, list: "violations", want: []string{`gardener Certificate "api" failed`, "domain not allowed"}},
	} {
		t.Run(tc.state, func(t *testing.T) {
			p := writeFile(t, "gw.yaml", objects+"status: {state: "+tc.state+", message: \""+tc.message+"\"}\n")
			code, out, errOut := runCaptured(t, "check", "-f", p, "-o", "json", "--no-network")
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s; out %s", code, tc.code, errOut, out)
			}
			var doc struct {
				Results []map[string]any `json:"results"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
				t.Fatalf("want one result (Pods and Certificates are state, not checked): %v\n%s", err, out)
			}
			var found bool
			for _, f := range doc.Results[0][tc.list].([]any) {
				f := f.(map[string]any)
				if f["check"] != "gateway-tls-secret" || f["field"] != "spec.servers[0].tls.credentialName" {
					continue
				}
				found = true
				for _, w := range tc.want {
					if !strings.Contains(f["message"].(string), w) {
						t.Errorf("%s message %q lacks %q", tc.list, f["message"], w)
					}
				}
			}
			if !found {
				t.Errorf("no gateway-tls-secret finding in %s: %s", tc.list, out)
			}
		})
	}
}

func TestCheckTextDenial(t *testing.T) {
	p := writeFile(t, "mutual.yaml", mutualGatewayYAML)
	code, out, _ := runCaptured(t, "check", "-f", p, "--no-network")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"gateway.networking.istio.io/", "): denied",
		"  error: spec.servers[0].tls", "[gateway-mtls-credential]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

// The mesh ConfigMap is read where --mesh-config-namespace says.
func TestCheckMeshConfigNamespace(t *testing.T) {
	p := writeFile(t, "extauth.yaml", `apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: ext, namespace: team}
spec:
  hosts: [ext.example.com]
  gateway: team/gw
  service: {name: svc, port: 80}
  rules:
  - path: /*
    methods: [GET]
    extAuth: {authorizers: [oauth2-proxy]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: team}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: team}
spec:
  selector: {app: svc}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: mesh-system}
data:
  mesh: |
    extensionProviders:
    - name: oauth2-proxy
      envoyExtAuthzHttp: {service: oauth2-proxy.oauth2-proxy.svc.cluster.local, port: 80}
`)
	for _, tc := range []struct {
		args     []string
		wantCode int
	}{
		{nil, 1}, // istio-system has no mesh config: the authorizer is unknown
		{[]string{"--mesh-config-namespace", "mesh-system"}, 0},
	} {
		code, out, errOut := runCaptured(t, append([]string{"check", "-f", p, "--no-network"}, tc.args...)...)
		if code != tc.wantCode {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.wantCode, out, errOut)
		}
		if tc.wantCode == 1 && !strings.Contains(out, "[apirule-extauth]") {
			t.Errorf("%v: denial is not apirule-extauth:\n%s", tc.args, out)
		}
	}
}

// check fetches issuers as serve does: through --ca-file and --allow-cidr,
// here a TLS issuer on loopback, the only address tests may reach.
func TestCheckFetchesIssuers(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/good/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL+"/good", srv.URL+"/good/jwks")
		case "/wrong/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL+"/someone-else", srv.URL+"/good/jwks")
		case "/good/jwks":
			fmt.Fprint(w, `{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"k","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	rule := func(issuer string) string {
		return writeFile(t, "rule.yaml", fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: team}
spec:
  jwtRules:
  - issuer: %s
`, issuer))
	}
	trusted := []string{"--ca-file", ca, "--allow-cidr", "127.0.0.1/32", "-o", "json"}
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string // in the JSON output
	}{
		{"good issuer", append([]string{"-f", rule(srv.URL + "/good")}, trusted...), 0, []string{`"allowed": true`}},
		{"discovery names another issuer", append([]string{"-f", rule(srv.URL + "/wrong")}, trusted...), 1,
			[]string{`"check": "jwt-issuer-discovery"`, `"field": "spec.jwtRules[0].issuer"`, srv.URL + "/someone-else"}},
		{"loopback not allowlisted", []string{"-f", rule(srv.URL + "/good"), "--ca-file", ca, "-o", "json"}, 1,
			[]string{`"check": "jwt-issuer-discovery"`, "--allow-cidr 127.0.0.1/32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCaptured(t, append([]string{"check"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// A Secret in a file may carry its PEM in stringData, as the API server
// accepts it: check reads it as the stored data it becomes.
func TestCheckSecretStringData(t *testing.T) {
	now := time.Now()
	ca := pkitest.New(t, pkitest.Options{CN: "client-ca", CA: true})
	leaf := pkitest.New(t, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com"}, Parent: ca})
	expired := pkitest.New(t, pkitest.Options{CN: "old-ca", CA: true, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	indent := func(pem []byte) string {
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n    ")
	}
	objects := func(field string, caPEM []byte) string {
		block := func(k string, v []byte) string {
			if field == "data" {
				return fmt.Sprintf("  %s: %s\n", k, base64.StdEncoding.EncodeToString(v))
			}
			return fmt.Sprintf("  %s: |\n%s\n", k, indent(v))
		}
		return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: api, namespace: kyma-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [api.example.com]
    tls: {mode: MUTUAL, credentialName: api-cred, minProtocolVersion: TLSV1_2}
---
apiVersion: v1
kind: Secret
metadata: {name: api-cred, namespace: istio-system}
` + field + ":\n" + block("cert", leaf.CertPEM) + block("key", leaf.KeyPEM) + block("cacert", caPEM)
	}
	for _, tc := range []struct {
		name     string
		field    string
		ca       []byte
		wantCode int
	}{
		{"data", "data", ca.CertPEM, 0},
		{"stringData", "stringData", ca.CertPEM, 0},
		{"stringData with an expired CA", "stringData", expired.CertPEM, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "gw.yaml", objects(tc.field, tc.ca))
			code, out, errOut := runCaptured(t, "check", "-f", p, "--no-network")
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.wantCode, out, errOut)
			}
			if tc.wantCode == 1 && !strings.Contains(out, "[gateway-mtls-ca]") {
				t.Errorf("the expired CA is not what was found:\n%s", out)
			}
		})
	}
}
