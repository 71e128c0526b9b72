package config

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// renamedChecks maps check IDs that were retired to the ID that covers
// their concern now. APIRule v1beta1 is checked through its v2 form, with
// the v2 check IDs; configuration written for the v1beta1 IDs keeps working,
// with a warning.
var renamedChecks = map[string]string{
	"apirule-v1beta1-gateway-not-found": "apirule-gateway",
	"apirule-v1beta1-service-not-found": "apirule-service",
	"apirule-v1beta1-service-port":      "apirule-service",
	"apirule-v1beta1-host-occupied":     "apirule-host-taken",
}

// currentCheckID is the ID a check is configured under.
func currentCheckID(id string) string {
	if to, ok := renamedChecks[id]; ok {
		return to
	}
	return id
}

// defaultMinTLSVersion is what settings.minTLSVersion and
// defaults.minTLSVersion are when unset.
const defaultMinTLSVersion = "TLSV1_2"

// tlsVersionOrder ranks a TLS version as Istio's enum spells it
// (TLSV1_0 < ... < TLSV1_3); 0 for anything else, TLS_AUTO included, which
// is no version an operator can require.
func tlsVersionOrder(v string) int32 {
	return networkingapi.ServerTLSSettings_TLSProtocol_value[v]
}

// tlsVersions lists the accepted spellings, lowest first.
func tlsVersions() []string {
	var out []string
	for v := networkingapi.ServerTLSSettings_TLSV1_0; v <= networkingapi.ServerTLSSettings_TLSV1_3; v++ {
		out = append(out, v.String())
	}
	return out
}

// validate returns every problem of the document as parsed (before fill)
// and warnings for what it accepted but the operator should change.
// Renamed check IDs in Checks are rewritten to the current ones.
func (c *Config) validate() (field.ErrorList, []string) {
	var errs field.ErrorList
	checks, warnings, cerrs := canonicalChecks(c.Checks)
	errs = append(errs, cerrs...)
	c.Checks = checks

	switch p := field.NewPath("networkErrorAction"); c.NetworkErrorAction {
	case "", warn, deny:
	default:
		errs = append(errs, field.NotSupported(p, c.NetworkErrorAction, []action{warn, deny}))
	}
	for i, ns := range c.ExemptNamespaces {
		errs = append(errs, dnsLabel(field.NewPath("exemptNamespaces").Index(i), ns)...)
	}
	if c.NamespaceLabel != "" {
		errs = append(errs, labelKey(field.NewPath("namespaceLabel"), c.NamespaceLabel)...)
	}
	errs = append(errs, validateSettings(&c.Settings, field.NewPath("settings"))...)
	errs = append(errs, validateDefaults(&c.Defaults, c.Settings.MinTLSVersion, field.NewPath("defaults"))...)
	if d := c.Exceptions.MaxDuration.Duration; d < 0 {
		errs = append(errs, field.Invalid(field.NewPath("exceptions", "maxDuration"), d.String(), "must not be negative; use a duration such as 2160h (90 days)"))
	}
	return errs, warnings
}

// canonicalChecks checks each entry of `checks` and keys it by the current
// check ID. Two entries that end up on one check must agree: otherwise which
// one wins would depend on map order.
func canonicalChecks(in map[string]action) (map[string]action, []string, field.ErrorList) {
	var errs field.ErrorList
	var warnings []string
	out := make(map[string]action, len(in))
	setBy := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(in)) {
		a, p := in[key], field.NewPath("checks").Key(key)
		if a == "false" {
			// YAML 1.1 reads an unquoted off as the boolean false, which
			// reaches a string field as "false": `check: off` means off.
			a = off
		}
		id := currentCheckID(key)
		if id != key {
			warnings = append(warnings, fmt.Sprintf("config: checks.%s: this check ID was retired; the entry now configures %s, which covers APIRule v1beta1 and v2 alike: rename the key", key, id))
		}
		if !lookupCheck(id) {
			errs = append(errs, field.Invalid(p, key, "unknown check: `gatewarden checks` lists the check IDs"))
			continue
		}
		switch a {
		case deny, warn, off:
		default:
			errs = append(errs, field.NotSupported(p, a, []action{deny, warn, off}))
			continue
		}
		if prev, ok := setBy[id]; ok && out[id] != a {
			errs = append(errs, field.Invalid(p, a, fmt.Sprintf("checks.%s sets the same check (%s) to %s: keep one of the two entries", prev, id, out[id])))
			continue
		}
		setBy[id], out[id] = key, a
	}
	return out, warnings, errs
}

func validateSettings(s *checkSettings, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.GatewaySecretNamespace != "" {
		errs = append(errs, dnsLabel(p.Child("gatewaySecretNamespace"), s.GatewaySecretNamespace)...)
	}
	if d := s.CertExpiryWarning.Duration; d < 0 {
		errs = append(errs, field.Invalid(p.Child("certExpiryWarning"), d.String(), "must not be negative; use a duration such as 720h"))
	}
	if s.MinTLSVersion != "" && tlsVersionOrder(s.MinTLSVersion) == 0 {
		errs = append(errs, field.NotSupported(p.Child("minTLSVersion"), s.MinTLSVersion, tlsVersions()))
	}
	for i, h := range s.AllowHTTPHosts {
		errs = append(errs, hostName(p.Child("allowHTTPHosts").Index(i), h)...)
	}
	for i, iss := range s.TrustedIssuers {
		errs = append(errs, issuerPattern(p.Child("trustedIssuers").Index(i), iss)...)
	}
	if s.RequireAuthLabel != "" {
		errs = append(errs, labelKey(p.Child("requireAuthLabel"), s.RequireAuthLabel)...)
	}
	return errs
}

// validateDefaults checks the `defaults` section; policyTLS is
// settings.minTLSVersion as written (empty: the default).
func validateDefaults(d *defaults, policyTLS string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, id := range d.Disabled {
		if !lookupDefault(id) {
			errs = append(errs, field.Invalid(p.Child("disabled").Index(i), id, "unknown default: `gatewarden checks` lists the default IDs"))
		}
	}
	if d.DefaultGateway != "" {
		if _, _, ok := apirule.SplitRef(d.DefaultGateway); !ok {
			errs = append(errs, field.Invalid(p.Child("defaultGateway"), d.DefaultGateway, "want namespace/name of an Istio Gateway, e.g. kyma-system/kyma-gateway"))
		}
	}
	if d.MinTLSVersion == "" {
		return errs
	}
	tp := p.Child("minTLSVersion")
	if tlsVersionOrder(d.MinTLSVersion) == 0 {
		return append(errs, field.NotSupported(tp, d.MinTLSVersion, tlsVersions()))
	}
	if policyTLS == "" {
		policyTLS = defaultMinTLSVersion
	}
	if o := tlsVersionOrder(policyTLS); o != 0 && tlsVersionOrder(d.MinTLSVersion) < o {
		errs = append(errs, field.Invalid(tp, d.MinTLSVersion, fmt.Sprintf(
			"below settings.minTLSVersion (%s): gateway-tls-min-version would deny the Gateways this default is set on; use %s or higher, or leave it unset to follow settings.minTLSVersion",
			policyTLS, policyTLS)))
	}
	return errs
}

func dnsLabel(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, "not a namespace name: "+strings.Join(msgs, "; "))}
	}
	return nil
}

func labelKey(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsQualifiedName(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, "not a label key: "+strings.Join(msgs, "; "))}
	}
	return nil
}

// hostName accepts what an issuer URL's host is compared with: a DNS name
// (in any case: the comparison ignores it) or an IP address. A scheme, port
// or path would make the entry match nothing.
func hostName(p *field.Path, v string) field.ErrorList {
	h := strings.TrimSpace(v)
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(strings.ToLower(h)); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, "want a host name such as idp.example.com or an IP address, without scheme, port or path")}
	}
	return nil
}

// issuerPattern accepts an issuer URL (http or https, with a host) or a
// prefix of one ending in `*`, the two forms the allowlist matches.
func issuerPattern(p *field.Path, v string) field.ErrorList {
	prefix, isPrefix := strings.CutSuffix(v, "*")
	if strings.Contains(prefix, "*") {
		return field.ErrorList{field.Invalid(p, v, "`*` is only allowed at the end, to match every issuer that starts with what precedes it")}
	}
	if isPrefix {
		lower := strings.ToLower(prefix)
		if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
			return field.ErrorList{field.Invalid(p, v, "a prefix must start with https:// (issuers are URLs), e.g. https://login.example.com/*")}
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return field.ErrorList{field.Invalid(p, v, "want an issuer URL such as https://login.example.com, or a prefix ending in *")}
	}
	return nil
}
