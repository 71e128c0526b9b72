package validators

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/istio"
	"github.com/gatewarden/gatewarden/internal/pki"
)

var GatewayTLSSecret = core.Register(core.Check{
	ID:          "gateway-tls-secret",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "credentialName secrets exist in the gateway pods' namespace; a Certificate that will write the secret (cert-manager cert-manager.io, Gardener cert.gardener.cloud) warns while pending and denies when failed",
	Runtime:     "istio/istio pilot/pkg/model/credentials/resource.go ParseResourceName, pilot/pkg/xds/sds.go SecretGen.generate",
})

var GatewayServerCertificate = core.Register(core.Check{
	ID:          "gateway-tls-server-certificate",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "the server certificate parses, matches its key, is current, and its SANs cover the server's hosts",
	Runtime:     "istio/istio pilot/pkg/credentials/kube/secrets.go ExtractCertInfo; envoy TLS context",
})

var GatewayMutualCA = core.Register(core.Check{
	ID:          "gateway-mtls-ca",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "the client CA istiod serves a MUTUAL server (from caCertCredentialName, <credentialName>-cacert or the certificate secret) holds a current CA (an expired one beside it warns), and its CRL parses and is signed by it",
	Runtime:     "istio/istio pilot/pkg/xds/sds.go SecretGen.generate, pilot/pkg/credentials/kube/secrets.go ExtractRoot; envoy default_validator.cc",
})

var GatewayTLSCACertName = core.Register(core.Check{
	ID:          "gateway-tls-cacert-name",
	Kinds:       []string{core.KindGateway},
	Default:     core.Deny,
	Description: "credentialName(s) of SIMPLE, MUTUAL and OPTIONAL_MUTUAL servers neither end in -cacert nor use configmap://: istiod serves those names as a CA only, so the server would get no certificate",
	Runtime:     "istio/istio pilot/pkg/xds/sds.go SecretGen.generate (isCAOnlySecret)",
})

var GatewayMutualIssuerAsClientCA = core.Register(core.Check{
	ID:          "gateway-mtls-issuer-as-client-ca",
	Kinds:       []string{core.KindGateway},
	Default:     core.Warn,
	Description: "the client CA of a MUTUAL server is not just the issuer of a certificate-managed (cert-manager or Gardener) server certificate",
	Runtime:     "istio/istio pilot/pkg/credentials/kube/secrets.go GetCaCert (falls back to the certificate secret)",
})

// certificateFor finds the Certificate (cert-manager or Gardener) that
// writes secret name in ns.
func (g *gatewayCheck) certificateFor(ns, name string) (*cluster.Certificate, error) {
	l, err := g.env.Cluster.Certificates(g.ctx, ns)
	if err != nil {
		return nil, err
	}
	for i := range l {
		if l[i].SecretName == name {
			return &l[i], nil
		}
	}
	return nil, nil
}

// namespaces are where istiod reads this Gateway's credentials: the
// namespaces of the pods its selector matches, else the configured gateway
// namespace. ok is false when the pods could not be listed (reported once).
func (g *gatewayCheck) namespaces() (nss []string, where string, ok bool) {
	if g.nsDone {
		return g.ns, g.nsWhere, !g.nsFailed
	}
	g.nsDone = true
	fallback := g.env.Settings.GatewaySecretNamespace
	if len(g.gw.Spec.Selector) == 0 {
		g.ns, g.nsWhere = []string{fallback}, "the gateway namespace from settings, as the Gateway has no selector"
		return g.ns, g.nsWhere, true
	}
	found, err := g.env.Cluster.PodNamespaces(g.ctx, "", g.gw.Spec.Selector)
	if err != nil {
		g.nsFailed = true
		g.r.Warn(GatewayTLSSecret, field.InternalError(field.NewPath("spec", "selector"),
			fmt.Errorf("could not list the gateway pods to find where istiod reads secrets, secret checks skipped: %v", err)))
		return nil, "", false
	}
	if len(found) == 0 {
		g.ns, g.nsWhere = []string{fallback}, "the gateway namespace from settings, as no pods match the selector"
	} else {
		g.ns, g.nsWhere = found, "where the gateway pods run"
	}
	return g.ns, g.nsWhere, true
}

// gatewayCredentialRef is one credentialName or credentialNames entry.
type gatewayCredentialRef struct {
	path *field.Path
	raw  string
}

// secretName turns a credential name into the secret istiod reads in ns.
// ok is false when the reference is not a plain Kubernetes secret (another
// SDS scheme) or was reported as unusable.
func (g *gatewayCheck) secretName(ref gatewayCredentialRef, ns string) (string, bool) {
	name := ref.raw
	if rest, cut := strings.CutPrefix(name, gwSDSKubePrefix); cut {
		name = rest
	} else if strings.Contains(name, "://") {
		return "", false // configmap://, kubernetes-gateway://: not ours to resolve
	}
	if refNS, n, cut := strings.Cut(name, "/"); cut {
		if refNS != ns {
			if g.r.Enabled(GatewayTLSSecret) {
				g.r.Deny(GatewayTLSSecret, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
					"istiod reads gateway secrets only in the gateway pods' namespace %q, not %q; move the secret there and name it without a namespace", ns, refNS)))
			}
			return "", false
		}
		name = n
	}
	return name, name != ""
}

// credentials checks the secrets of one SIMPLE, MUTUAL or OPTIONAL_MUTUAL
// server in every namespace istiod would read them from.
func (g *gatewayCheck) credentials(s *networkingapi.Server, sp *field.Path) {
	tls := s.Tls
	if !istio.OwnTLS(tls.Mode) {
		return
	}
	if !g.anyEnabled(GatewayTLSSecret, GatewayServerCertificate, GatewayMutualCA, GatewayMutualIssuerAsClientCA, GatewayTLSCACertName) {
		return
	}
	tp := sp.Child("tls")
	var refs []gatewayCredentialRef
	if tls.CredentialName != "" {
		refs = append(refs, gatewayCredentialRef{tp.Child("credentialName"), tls.CredentialName})
	}
	for j, n := range tls.CredentialNames {
		refs = append(refs, gatewayCredentialRef{tp.Child("credentialNames").Index(j), n})
	}
	if len(refs) == 0 {
		return
	}
	// A name istiod serves as a CA only gets no certificate at all: its
	// secret's content does not matter.
	certRefs := refs[:0:0]
	for _, ref := range refs {
		if !g.caOnlyName(ref) {
			certRefs = append(certRefs, ref)
		}
	}
	if !g.anyEnabled(GatewayTLSSecret, GatewayServerCertificate, GatewayMutualCA, GatewayMutualIssuerAsClientCA) {
		return
	}
	nss, where, ok := g.namespaces()
	if !ok {
		return
	}
	// With caCertCredentialName, istiod takes the client CA from there and
	// never looks at <credentialName>-cacert.
	named := istio.IsMutual(tls.Mode) && tls.CaCertCredentialName != ""
	if named {
		g.namedClientCA(gatewayCredentialRef{tp.Child("caCertCredentialName"), tls.CaCertCredentialName}, nss)
	}
	for _, ns := range nss {
		for _, ref := range certRefs {
			name, ok := g.secretName(ref, ns)
			if !ok {
				continue
			}
			// istiod takes the client CA from the first name only.
			mutual := istio.IsMutual(tls.Mode) && !named && ref == refs[0]
			sec, found := g.serverSecret(ns, name, ref, where, mutual)
			if !found {
				if mutual {
					g.clientCA(ns, name, nil, nil, ref)
				}
				continue
			}
			leaf := g.serverCertificate(ns, name, sec, ref, s.Hosts, sp.Child("hosts"))
			if mutual {
				g.clientCA(ns, name, sec, leaf, ref)
			}
		}
	}
}

// caOnlyName runs gateway-tls-cacert-name on one credential name: istiod's
// SDS server answers a name ending in -cacert, and any configmap:// name,
// with a CA only (pilot/pkg/xds/sds.go SecretGen.generate), so a server
// certificate named so is never served and the listener never warms.
func (g *gatewayCheck) caOnlyName(ref gatewayCredentialRef) bool {
	c := GatewayTLSCACertName
	name := ref.raw
	if strings.HasPrefix(name, gwSDSConfigMapPrefix) {
		g.r.Deny(c, field.Invalid(ref.path, ref.raw,
			"istiod serves a configmap:// name only as a CA, never as a server certificate and key, so this server would have no certificate; name the Secret that holds the certificate and key"))
		return true
	}
	name = strings.TrimPrefix(name, gwSDSKubePrefix)
	if strings.Contains(name, "://") {
		return false // another SDS scheme: not ours to resolve
	}
	if _, n, cut := strings.Cut(name, "/"); cut {
		name = n
	}
	if !strings.HasSuffix(name, gwCASecretSuffix) {
		return false
	}
	g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
		"istiod serves a name ending in %s only as a CA, never as a server certificate and key, so this server would have no certificate and its listener would never warm; rename the secret (for example to %q) and keep client CAs in <name>%s",
		gwCASecretSuffix, strings.TrimSuffix(name, gwCASecretSuffix), gwCASecretSuffix)))
	return true
}

// serverSecret reads the certificate secret and reports it when missing;
// found is false when there is nothing further to check.
func (g *gatewayCheck) serverSecret(ns, name string, ref gatewayCredentialRef, where string, mutual bool) (*corev1.Secret, bool) {
	sec, err := g.env.Cluster.Secret(g.ctx, ns, name)
	if err != nil {
		g.r.Warn(GatewayTLSSecret, field.InternalError(ref.path,
			fmt.Errorf("could not read secret %q in namespace %q, check skipped: %v", name, ns, err)))
		return nil, false
	}
	if sec != nil {
		return sec, true
	}
	if !g.r.Enabled(GatewayTLSSecret) {
		return nil, false
	}
	crt, err := g.certificateFor(ns, name)
	switch {
	case err != nil:
		g.r.Warn(GatewayTLSSecret, field.InternalError(ref.path, fmt.Errorf(
			"secret %q not found in namespace %q, and Certificates there could not be listed to tell whether it is pending: %v", name, ns, err)))
		return nil, false
	case crt != nil && crt.Failed:
		g.r.Deny(GatewayTLSSecret, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
			"secret %q in namespace %q is not issued: %s Certificate %q failed: %s; fix the Certificate",
			name, ns, crt.Source, crt.Name, gatewayQuote(crt.Message))))
		return nil, false
	case crt != nil && !crt.Ready:
		why := ""
		if crt.Message != "" {
			why = " (" + gatewayQuote(crt.Message) + ")"
		}
		g.r.Warn(GatewayTLSSecret, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
			"certificate pending: secret %q in namespace %q does not exist yet, %s Certificate %q is not ready%s; the listener stays down until it is issued",
			name, ns, crt.Source, crt.Name, why)))
		return nil, false
	}
	tried := fmt.Sprintf("secret %q", name)
	if mutual {
		tried = fmt.Sprintf("secrets %q (certificate and key) and %q (client CA)", name, name+gwCASecretSuffix)
	}
	msg := fmt.Sprintf("secret %q not found in namespace %q (%s); istiod looks for %s there", name, ns, where, tried)
	// No read in the Gateway's namespace: the webhook may read Secrets only
	// in the gateway namespaces, so the hint is unconditional.
	if gwNS := g.gw.Namespace; gwNS != "" && gwNS != ns {
		msg += fmt.Sprintf("; if the secret is in the Gateway's namespace %q, move it to %q: istiod reads credentials only from the gateway pods' namespace", gwNS, ns)
	}
	g.r.Deny(GatewayTLSSecret, field.Invalid(ref.path, ref.raw, msg))
	return nil, false
}

// gatewayQuote keeps a controller's message to one line.
func gatewayQuote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(no message)"
	}
	return fmt.Sprintf("%q", s)
}

// gatewayHasValue says whether every key has a non-empty value: istiod
// takes a key only then (pilot/pkg/credentials/kube/secrets.go hasValue).
func gatewayHasValue(d map[string][]byte, keys ...string) bool {
	for _, k := range keys {
		if len(d[k]) == 0 {
			return false
		}
	}
	return true
}

// gatewayHasKeys says whether every key is present, empty or not.
func gatewayHasKeys(d map[string][]byte, keys ...string) bool {
	for _, k := range keys {
		if _, ok := d[k]; !ok {
			return false
		}
	}
	return true
}

// gatewayServerKeys picks the certificate and key entries as istiod's
// ExtractCertInfo does: cert and key when both have values, then tls.crt and
// tls.key. When neither pair has values, why says what istiod found.
func gatewayServerKeys(sec *corev1.Secret) (certKey, keyKey, why string) {
	switch {
	case gatewayHasValue(sec.Data, gwKeyCert, gwKeyKey):
		return gwKeyCert, gwKeyKey, ""
	case gatewayHasValue(sec.Data, gwKeyTLSCrt, gwKeyTLSKey):
		return gwKeyTLSCrt, gwKeyTLSKey, ""
	case gatewayHasKeys(sec.Data, gwKeyCert, gwKeyKey):
		return "", "", "has keys cert and key, but they are empty, and no tls.crt and tls.key with values; put the PEM certificate chain and private key in one of those pairs"
	case gatewayHasKeys(sec.Data, gwKeyTLSCrt, gwKeyTLSKey):
		return "", "", "has keys tls.crt and tls.key, but they are empty; put the PEM certificate chain and private key there"
	}
	return "", "", "has neither cert and key nor tls.crt and tls.key; add the server certificate and private key under one of those pairs"
}

// serverCertificate checks the certificate and key of a found secret and
// returns the leaf certificate when it parses.
func (g *gatewayCheck) serverCertificate(ns, name string, sec *corev1.Secret, ref gatewayCredentialRef, hosts []string, hostsPath *field.Path) *x509.Certificate {
	c := GatewayServerCertificate
	check := g.r.Enabled(c)
	where := fmt.Sprintf("secret %q in namespace %q", name, ns)
	certKey, keyKey, why := gatewayServerKeys(sec)
	if why != "" {
		if check {
			g.r.Deny(c, field.Invalid(ref.path, ref.raw, where+" "+why))
		}
		return nil
	}
	certs, err := pki.ParseCertificates(sec.Data[certKey])
	if err != nil {
		if check {
			g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("key %q of %s is not a PEM certificate chain: %v", certKey, where, err)))
		}
		return nil
	}
	leaf := certs[0]
	if !check {
		return leaf
	}
	key, err := pki.ParsePrivateKey(sec.Data[keyKey])
	switch {
	case err != nil:
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("key %q of %s is not a usable PEM private key: %v", keyKey, where, err)))
	case !pki.KeyMatches(leaf, key):
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("the private key in %q of %s does not belong to the certificate in %q; store the matching pair", keyKey, where, certKey)))
	}
	g.validity(c, ref, fmt.Sprintf("server certificate %q in %q of %s", pki.Name(leaf), certKey, where), leaf)
	for j, h := range hosts {
		host := istio.HostName(h)
		if host == "" || host == "*" {
			continue
		}
		if !pki.CoversHost(leaf, host) {
			g.r.Warn(c, field.Invalid(hostsPath.Index(j), h, fmt.Sprintf(
				"server certificate %q in %q of %s does not cover host %q (SANs %s); clients will reject it",
				pki.Name(leaf), certKey, where, host, gatewaySANs(leaf))))
		}
	}
	return leaf
}

// validity reports an expired, not yet valid or soon expiring certificate.
func (g *gatewayCheck) validity(c *core.Check, ref gatewayCredentialRef, what string, cert *x509.Certificate) {
	now := g.env.Now()
	within := g.env.Settings.CertExpiryWarning.Duration
	switch pki.CheckValidity(cert, now, within) {
	case pki.Expired:
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("%s expired on %s; renew it", what, gatewayTime(cert.NotAfter))))
	case pki.NotYetValid:
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("%s is not valid before %s; check the issuer's clock or wait", what, gatewayTime(cert.NotBefore))))
	case pki.ExpiringSoon:
		g.r.Warn(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("%s expires on %s, in less than %s; renew it", what, gatewayTime(cert.NotAfter), gatewayDays(within))))
	}
}

func gatewayTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func gatewayDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.String()
}

func gatewaySANs(c *x509.Certificate) string {
	var sans []string
	sans = append(sans, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	if len(sans) == 0 {
		return "none"
	}
	return fmt.Sprintf("%q", sans)
}

// clientCA finds the client CA as istiod does when no caCertCredentialName
// is set, and checks it: <name>-cacert when that secret exists (no fallback
// then), else the certificate secret. sec is the certificate secret (nil
// when missing), leaf its certificate.
func (g *gatewayCheck) clientCA(ns, name string, sec *corev1.Secret, leaf *x509.Certificate, ref gatewayCredentialRef) {
	if !g.anyEnabled(GatewayMutualCA, GatewayMutualIssuerAsClientCA) {
		return
	}
	c := GatewayMutualCA
	caName := name + gwCASecretSuffix
	caSec, err := g.env.Cluster.Secret(g.ctx, ns, caName)
	if err != nil {
		g.r.Warn(c, field.InternalError(ref.path, fmt.Errorf("could not read secret %q in namespace %q, client CA check skipped: %v", caName, ns, err)))
		return
	}
	src, srcName := caSec, caName
	if caSec == nil {
		if sec == nil {
			return // the missing certificate secret is already reported
		}
		src, srcName = sec, name
	}
	where := fmt.Sprintf("secret %q in namespace %q", srcName, ns)
	var none string
	if caSec != nil {
		none = fmt.Sprintf("as it exists, istiod takes the client CA from it and does not fall back to %q", name)
	} else {
		none = fmt.Sprintf("there is no secret %q either; add the CA that signs client certificates to one of them", caName)
	}
	cas, caKey := g.checkCAData(ref, where, src.Data, none)
	if cas != nil && caSec == nil && leaf != nil {
		g.issuerAsClientCA(ns, name, sec, leaf, cas, caKey, ref)
	}
}

// namedClientCA resolves tls.caCertCredentialName as istiod's SDS server
// does (pilot/pkg/xds/sds.go SecretGen.generate) and checks the CA:
// configmap://namespace/name reads that ConfigMap (a -cacert suffix
// stripped); a name ending in -cacert reads that secret in the gateway pods'
// namespace, else the secret without the suffix; any other name is fetched
// as a certificate and key, which yields no CA.
func (g *gatewayCheck) namedClientCA(ref gatewayCredentialRef, nss []string) {
	if !g.r.Enabled(GatewayMutualCA) {
		return
	}
	c := GatewayMutualCA
	raw := ref.raw
	if rest, ok := strings.CutPrefix(raw, gwSDSConfigMapPrefix); ok {
		parts := strings.Split(rest, "/")
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			g.r.Deny(c, field.Invalid(ref.path, raw, "istiod needs a namespace and a name here: write configmap://<namespace>/<name>"))
			return
		}
		ns, name := parts[0], strings.TrimSuffix(parts[1], gwCASecretSuffix)
		cm, err := g.env.Cluster.ConfigMap(g.ctx, ns, name)
		if err != nil {
			g.r.Warn(c, field.InternalError(ref.path, fmt.Errorf(
				"could not read ConfigMap %q in namespace %q, client CA not verified (gatewarden reads ConfigMaps only in the gateway namespaces): %v", name, ns, err)))
			return
		}
		if cm == nil {
			g.r.Deny(c, field.Invalid(ref.path, raw, fmt.Sprintf(
				"ConfigMap %q not found in namespace %q, so istiod serves no client CA and every client handshake fails; create it with the CA in key ca.crt (or cacert)", name, ns)))
			return
		}
		data := make(map[string][]byte, len(cm.Data))
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		g.checkCAData(ref, fmt.Sprintf("ConfigMap %q in namespace %q", name, ns), data, "")
		return
	}
	if strings.Contains(strings.TrimPrefix(raw, gwSDSKubePrefix), "://") {
		return // kubernetes-gateway://, builtin://, sds://: not ours to resolve
	}
	for _, ns := range nss {
		name, ok := g.secretName(ref, ns)
		if !ok {
			continue
		}
		if !strings.HasSuffix(name, gwCASecretSuffix) {
			g.r.Deny(c, field.Invalid(ref.path, raw, fmt.Sprintf(
				"istiod serves a CA only for names ending in %s or configmap://<namespace>/<name>; %q is fetched as a certificate and key, so no client CA is served and every client handshake fails; set %q: istiod then reads secret %q, or %q when that does not exist",
				gwCASecretSuffix, name, name+gwCASecretSuffix, name+gwCASecretSuffix, name)))
			return
		}
		secName := name
		sec, err := g.env.Cluster.Secret(g.ctx, ns, secName)
		if err == nil && sec == nil {
			secName = strings.TrimSuffix(name, gwCASecretSuffix)
			sec, err = g.env.Cluster.Secret(g.ctx, ns, secName)
		}
		if err != nil {
			g.r.Warn(c, field.InternalError(ref.path, fmt.Errorf("could not read secret %q in namespace %q, client CA check skipped: %v", secName, ns, err)))
			continue
		}
		if sec == nil {
			g.r.Deny(c, field.Invalid(ref.path, raw, fmt.Sprintf(
				"neither secret %q nor %q found in namespace %q, where istiod reads the client CA; create one of them with the CA in key cacert or ca.crt",
				name, secName, ns)))
			continue
		}
		g.checkCAData(ref, fmt.Sprintf("secret %q in namespace %q", secName, ns), sec.Data, "")
	}
}

// checkCAData picks the CA and CRL of a secret or ConfigMap as istiod's
// ExtractRoot does (cacert with crl when cacert has a value, else ca.crt
// with ca.crl) and checks them. none completes the message when no CA key
// has a value. It returns the CA certificates when they parse.
func (g *gatewayCheck) checkCAData(ref gatewayCredentialRef, where string, data map[string][]byte, none string) ([]*x509.Certificate, string) {
	c := GatewayMutualCA
	var caKey, crlKey, otherCRL string
	switch {
	case gatewayHasValue(data, gwKeyCACert):
		caKey, crlKey, otherCRL = gwKeyCACert, gwKeyCRL, gwKeyCACrl
	case gatewayHasValue(data, gwKeyCACrt):
		caKey, crlKey, otherCRL = gwKeyCACrt, gwKeyCACrl, gwKeyCRL
	default:
		msg := fmt.Sprintf("no client CA: %s has no cacert or ca.crt", where)
		for _, k := range []string{gwKeyCACert, gwKeyCACrt} {
			if gatewayHasKeys(data, k) {
				msg = fmt.Sprintf("no client CA: key %q of %s is empty and no other CA key has a value", k, where)
				break
			}
		}
		if none != "" {
			msg += "; " + none
		} else {
			msg += "; store the CA that signs client certificates in key ca.crt (or cacert)"
		}
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, msg))
		return nil, ""
	}
	cas, err := pki.ParseCertificates(data[caKey])
	if err != nil {
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("key %q of %s is not a PEM CA bundle: %v", caKey, where, err)))
		return nil, ""
	}
	g.checkCABundle(ref, caKey, where, cas)
	if gatewayHasValue(data, crlKey) {
		g.checkCRL(ref, crlKey, where, data[crlKey], cas)
	} else if gatewayHasValue(data, otherCRL) {
		g.r.Warn(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
			"%s has a CRL in %q, but with the CA in %q istiod reads it from %q; rename the key", where, otherCRL, caKey, crlKey)))
	}
	return cas, caKey
}

// checkCABundle denies a bundle that holds no CA envoy can use now. Envoy
// trusts every CA of the bundle (default_validator.cc), so an expired or
// not yet valid CA next to a current one only warns.
func (g *gatewayCheck) checkCABundle(ref gatewayCredentialRef, caKey, where string, cas []*x509.Certificate) {
	c := GatewayMutualCA
	if !g.r.Enabled(c) {
		return
	}
	now, within := g.env.Now(), g.env.Settings.CertExpiryWarning.Duration
	anyCA, current := false, 0
	for _, ca := range cas {
		if !pki.IsCA(ca) {
			continue
		}
		anyCA = true
		if v := pki.CheckValidity(ca, now, within); v == pki.Valid || v == pki.ExpiringSoon {
			current++
		}
	}
	if !anyCA {
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
			"no certificate in %q of %s is a CA (basic constraints CA:true and, with key usage, certSign); store the CA that issues client certificates, not a client or server certificate", caKey, where)))
	}
	for i, ca := range cas {
		what := fmt.Sprintf("CA certificate %q (%d of %d in %q of %s)", pki.Name(ca), i+1, len(cas), caKey, where)
		if current == 0 || !anyCA {
			g.validity(c, ref, what, ca)
			continue
		}
		switch pki.CheckValidity(ca, now, within) {
		case pki.Expired:
			g.r.Warn(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
				"%s expired on %s; envoy still trusts the other CAs of the bundle, so remove it", what, gatewayTime(ca.NotAfter))))
		case pki.NotYetValid:
			g.r.Warn(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
				"%s is not valid before %s; envoy trusts the other CAs of the bundle until then", what, gatewayTime(ca.NotBefore))))
		case pki.ExpiringSoon:
			g.validity(c, ref, what, ca)
		}
	}
}

func (g *gatewayCheck) checkCRL(ref gatewayCredentialRef, crlKey, where string, data []byte, cas []*x509.Certificate) {
	c := GatewayMutualCA
	if !g.r.Enabled(c) {
		return
	}
	crls, err := pki.ParseCRLs(data)
	if err != nil {
		g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf("key %q of %s is not a PEM CRL: %v", crlKey, where, err)))
		return
	}
	for i, crl := range crls {
		issuer := pki.CRLIssuer(crl, cas)
		switch {
		case issuer == nil:
			g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
				"CRL %d of %d in %q of %s is not signed by a CA in the bundle; envoy rejects it, so use the CRL of the client CA", i+1, len(crls), crlKey, where)))
		case !pki.MaySignCRL(issuer):
			g.r.Deny(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
				"CRL %d of %d in %q of %s is signed by CA %q, whose key usage lacks cRLSign", i+1, len(crls), crlKey, where, pki.Name(issuer))))
		}
	}
}

// issuerAsClientCA warns when a certificate-managed secret's CA, which is the
// issuer of the server certificate, ends up as the client CA.
func (g *gatewayCheck) issuerAsClientCA(ns, name string, sec *corev1.Secret, leaf *x509.Certificate, cas []*x509.Certificate, caKey string, ref gatewayCredentialRef) {
	c := GatewayMutualIssuerAsClientCA
	if !g.r.Enabled(c) || pki.Issuer(leaf, cas) == nil {
		return
	}
	managed := sec.Annotations[gwCertManagerAnnotation] != ""
	if !managed {
		crt, err := g.certificateFor(ns, name)
		managed = err == nil && crt != nil
	}
	if !managed {
		return
	}
	g.r.Warn(c, field.Invalid(ref.path, ref.raw, fmt.Sprintf(
		"the client CA is %q of certificate-managed secret %q in namespace %q, which is the issuer of the server certificate, so every certificate that issuer signs is accepted as a client; put the CA of your clients in secret %q",
		caKey, name, ns, name+gwCASecretSuffix)))
}
