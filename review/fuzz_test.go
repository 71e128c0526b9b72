package review

// Fuzz targets: arbitrary JSON decoded as each kind (every served version of
// the table of kinds), then every check of the kind against in-memory cluster state and an
// in-memory issuer. A check may deny or warn anything; it must not panic.
// The Gateway target also fuzzes the contents of the credential Secret the
// gateway names, which the certificate, key and CRL checks parse.
//
//	go test -run '^$' -fuzz '^FuzzValidateAPIRule$' -fuzztime 30s ./review/

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// fuzzIssuer answers any issuer: issuers containing "wrong" name another
// issuer, "down" fails with a network error, "stale" comes back stale,
// "404" answers 404; every JWKS URL serves a usable key set unless it
// contains "bad" (a private key) or "404".
type fuzzIssuer struct{}

func (fuzzIssuer) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	switch {
	case strings.Contains(issuer, "down"):
		return nil, &trust.FetchError{URL: trust.DiscoveryURL(issuer), Kind: trust.Network, Err: context.DeadlineExceeded}
	case strings.Contains(issuer, "404"):
		return nil, &trust.FetchError{URL: trust.DiscoveryURL(issuer), Kind: trust.Status, Status: 404}
	}
	d := &trust.Discovery{Issuer: issuer, JWKSURI: strings.TrimSuffix(issuer, "/") + "/jwks"}
	if strings.Contains(issuer, "wrong") {
		d.Issuer = "https://someone-else.example.com"
	}
	if strings.Contains(issuer, "stale") {
		d.Stale, d.StaleReason = true, "refresh failed"
	}
	return d, nil
}

func (fuzzIssuer) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	switch {
	case strings.Contains(uri, "404"):
		return nil, &trust.FetchError{URL: uri, Kind: trust.Status, Status: 404}
	case strings.Contains(uri, "bad"):
		return &trust.KeySet{Raw: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}`)}, nil
	}
	return &trust.KeySet{Raw: []byte(fuzzJWKS)}, nil
}

const fuzzJWKS = `{"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"k1",` +
	`"x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`

// fuzzState is the cluster the checks see: Kyma's gateway, a service, an
// ingress gateway pod and a credential Secret whose data the fuzzer picks.
func fuzzState(crt, key, ca []byte) (cluster.State, error) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "fuzz-cred"},
		Data: map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": ca}}
	cacert := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "fuzz-cred-cacert"},
		Data: map[string][]byte{"cacert": ca, "crl": crt}}
	ingress := map[string]string{"istio": "ingressgateway"}
	gateway := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "mtls", Namespace: "kyma-system"},
		Spec: networkingapi.Gateway{Selector: ingress, Servers: []*networkingapi.Server{{
			Port: &networkingapi.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"api.example.com"}}}}}
	objs := []runtime.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "istio-system", Labels: ingress}}, secret, cacert,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}},
		gateway,
	}
	return cluster.FromObjects(objs...)
}

// fuzzNow is the clock of the fuzzed checks (certificates are made for it).
var fuzzNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fuzzValidate decodes raw as kind in the version picked by v and runs its
// checks; it fails only by panicking.
func fuzzValidate(t *testing.T, kind string, v uint8, raw, crt, key, ca []byte) {
	var k *Kind
	for i := range Kinds {
		if Kinds[i].Kind == kind {
			k = &Kinds[i]
		}
	}
	if k == nil {
		t.Fatalf("unknown kind %s", kind)
	}
	ver := &k.Versions[int(v)%len(k.Versions)]
	typed, err := ver.decode(raw)
	if err != nil || typed == nil {
		return
	}
	ns := normalize(typed, "")
	st, err := fuzzState(crt, key, ca)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gvk := schema.GroupVersionKind{Group: k.Group, Version: ver.Name, Kind: k.Kind}
	for _, op := range []string{"CREATE", "UPDATE", "CHECK"} {
		r := core.NewReport(core.DefaultPolicy)
		ver.Validate(ctx, &core.Object{GVK: gvk, Kind: k.Kind, Namespace: ns, Name: "fuzz", Operation: op, Typed: typed},
			&core.Env{Cluster: st, Trust: fuzzIssuer{}, Settings: core.Settings{}.WithDefaults(), Now: func() time.Time { return fuzzNow }}, r)
	}
}

// addJSON adds each seed document as JSON (YAML-free to keep seeds exact).
func addJSON(f *testing.F, docs []string, extra ...any) {
	for _, d := range docs {
		var v any
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			f.Fatalf("bad seed %s: %v", d, err)
		}
		for ver := uint8(0); ver < 3; ver++ {
			f.Add(append([]any{ver, []byte(d)}, extra...)...)
		}
	}
	f.Add(append([]any{uint8(0), []byte(`null`)}, extra...)...)
	f.Add(append([]any{uint8(1), []byte(`{}`)}, extra...)...)
	f.Add(append([]any{uint8(2), []byte(`{"spec":null}`)}, extra...)...)
}

var apiruleSeeds = []string{
	`{"metadata":{"name":"r","namespace":"default"},"spec":{"hosts":["r.local.kyma.dev"],"gateway":"kyma-system/mtls","service":{"name":"httpbin","port":8000},"rules":[{"path":"/anything/{**}","methods":["POST"],"noAuth":true},{"path":"/anything/{*}/one","methods":["POST"],"noAuth":true}]}}`,
	`{"metadata":{"name":"r"},"spec":{"hosts":["*"],"gateway":"nope","service":{"name":"missing","port":1},"rules":[{"path":"/*","methods":["GET","POST"],"jwt":{"authentications":[{"issuer":"https://issuer.example.com","jwksUri":"https://issuer.example.com/jwks"},{"issuer":"https://wrong.example.com"},{"issuer":"https://down.example.com","jwksUri":"https://bad.example.com/jwks"},{"issuer":"https://stale.example.com/"}],"authorizations":[{"requiredScopes":["a"],"audiences":["x"]}]}}]}}`,
	`{"spec":{"host":"h","gateway":"kyma-system/kyma-gateway","service":{"name":"httpbin","port":8000},"rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"jwt","config":{"trusted_issuers":["https://issuer.example.com"],"jwks_urls":["https://404.example.com/jwks"]}},{"handler":"oauth2_introspection"},{"handler":"noop"}],"mutators":[{"handler":"header"}]}]}}`,
	`{"spec":{"hosts":["a.b"],"rules":[{"path":"/{**}/x/{*}","extAuth":{"authorizers":["oauth2-proxy"],"restrictions":{"jwt":{"authentications":[{"issuer":"https://issuer.example.com"}]}}},"service":{"name":"httpbin","port":8000,"namespace":"other"}},{"path":"/","request":{"headers":{"a":"b"}},"timeout":3}],"corsPolicy":{"allowOrigins":[{"regex":"(("}]}}}`,
}

var gatewaySeeds = []string{
	`{"metadata":{"name":"g","namespace":"istio-system"},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["api.example.com"],"tls":{"mode":"MUTUAL","credentialName":"fuzz-cred","minProtocolVersion":"TLSV1_0"}}]}}`,
	`{"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*"],"tls":{"mode":"SIMPLE","credentialName":"fuzz-cred"}},{"port":{"number":443,"name":"https2","protocol":"HTTPS"},"hosts":["*","ns/*.example.com"],"tls":{"mode":"OPTIONAL_MUTUAL","credentialName":"missing","subjectAltNames":["x"]}},{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["api.example.com"],"tls":{"httpsRedirect":true}}]}}`,
	`{"spec":{"servers":[{"port":{"number":443},"tls":{"mode":"MUTUAL","credentialNames":["fuzz-cred","fuzz-cred"],"caCertificates":"/etc/x"}},{"port":null},null]}}`,
	`{"spec":{"selector":{},"servers":[{"port":{"number":15443,"protocol":"TLS"},"hosts":["."],"tls":{"mode":"ISTIO_MUTUAL"}}]}}`,
}

var requestAuthenticationSeeds = []string{
	`{"metadata":{"name":"ra","namespace":"default"},"spec":{"selector":{"matchLabels":{"app":"httpbin"}},"jwtRules":[{"issuer":"https://issuer.example.com","jwksUri":"https://issuer.example.com/jwks","audiences":["a"],"forwardOriginalToken":true}]}}`,
	`{"spec":{"jwtRules":[{"issuer":"issuer@example.com","jwks":"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"HS256\"}]}"},{"issuer":"https://wrong.example.com/"},{"issuer":"https://down.example.com","fromHeaders":[{"name":"x","prefix":"Bearer "}]},{"issuer":""},null]}}`,
	`{"spec":{"targetRef":{"kind":"Gateway","name":"g"},"jwtRules":[{"issuer":"https://stale.example.com","jwks":"not json"},{"issuer":"https://404.example.com","jwksUri":"http://127.0.0.1/jwks"}]}}`,
}

var authorizationPolicySeeds = []string{
	`{"metadata":{"name":"ap","namespace":"default"},"spec":{"selector":{"matchLabels":{"app":"httpbin"}},"action":"ALLOW","rules":[{"from":[{"source":{"requestPrincipals":["https://issuer.example.com/*"]}}],"to":[{"operation":{"paths":["/api/*"],"methods":["GET"]}}],"when":[{"key":"request.auth.claims[iss]","values":["https://wrong.example.com"]}]}]}}`,
	`{"spec":{"action":"DENY","rules":[{}]}}`,
	`{"spec":{"action":"CUSTOM","provider":{"name":"oauth2-proxy"},"rules":[{"to":[{"operation":{"hosts":["*"],"notPaths":["/x*y"]}}]}]}}`,
	`{"spec":{"action":"AUDIT","targetRefs":[{"kind":"Service","name":"httpbin"}],"rules":[null,{"from":[null]}]}}`,
}

// secretSeeds are credential Secret contents: a good pair with its CA and
// CRL, garbage, and swapped blocks.
func secretSeeds(f *testing.F) [][3][]byte {
	ca := pkitest.New(f, pkitest.Options{CN: "fuzz-ca", CA: true, Now: fuzzNow})
	leaf := pkitest.New(f, pkitest.Options{CN: "api.example.com", DNSNames: []string{"api.example.com"}, Parent: ca, Now: fuzzNow})
	crl := pkitest.CRL(f, ca, fuzzNow, leaf.Cert.SerialNumber)
	return [][3][]byte{
		{leaf.CertPEM, leaf.KeyPEM, ca.CertPEM},
		{pkitest.Join(leaf.CertPEM, ca.CertPEM), ca.KeyPEM, pkitest.Join(ca.CertPEM, crl)},
		{crl, leaf.CertPEM, leaf.KeyPEM},
		{[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n"), []byte("garbage"), nil},
		{nil, nil, nil},
	}
}

func addKindSeeds(f *testing.F, docs []string) {
	for _, s := range secretSeeds(f) {
		addJSON(f, docs, s[0], s[1], s[2])
	}
}

func FuzzValidateAPIRule(f *testing.F) {
	addKindSeeds(f, apiruleSeeds)
	f.Fuzz(func(t *testing.T, v uint8, raw, crt, key, ca []byte) {
		fuzzValidate(t, "APIRule", v, raw, crt, key, ca)
	})
}

func FuzzValidateGateway(f *testing.F) {
	addKindSeeds(f, gatewaySeeds)
	f.Fuzz(func(t *testing.T, v uint8, raw, crt, key, ca []byte) {
		fuzzValidate(t, "Gateway", v, raw, crt, key, ca)
	})
}

func FuzzValidateRequestAuthentication(f *testing.F) {
	addKindSeeds(f, requestAuthenticationSeeds)
	f.Fuzz(func(t *testing.T, v uint8, raw, crt, key, ca []byte) {
		fuzzValidate(t, "RequestAuthentication", v, raw, crt, key, ca)
	})
}

func FuzzValidateAuthorizationPolicy(f *testing.F) {
	addKindSeeds(f, authorizationPolicySeeds)
	f.Fuzz(func(t *testing.T, v uint8, raw, crt, key, ca []byte) {
		fuzzValidate(t, "AuthorizationPolicy", v, raw, crt, key, ca)
	})
}
