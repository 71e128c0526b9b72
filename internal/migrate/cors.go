package migrate

import (
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/apirule"
)

// v1beta1CORS is the v1beta1 corsPolicy; maxAge is a duration string there
// and whole seconds in v2.
type v1beta1CORS struct {
	AllowHeaders     []string            `json:"allowHeaders,omitempty"`
	AllowMethods     []string            `json:"allowMethods,omitempty"`
	AllowOrigins     []map[string]string `json:"allowOrigins,omitempty"`
	AllowCredentials *bool               `json:"allowCredentials,omitempty"`
	ExposeHeaders    []string            `json:"exposeHeaders,omitempty"`
	MaxAge           *string             `json:"maxAge,omitempty"`
}

// DefaultCORS is what Kyma's v1beta1 controller put on every route of an
// APIRule without corsPolicy: origins matching the regex ".*", methods
// GET, POST, PUT, DELETE, PATCH, headers Authorization, Content-Type, *.
// v2 sets no CORS policy unless asked, so the migration writes these out.
func DefaultCORS() *apirule.CorsPolicy {
	return &apirule.CorsPolicy{
		AllowOrigins: []map[string]string{{"regex": ".*"}},
		AllowMethods: []string{"GET", "POST", "PUT", "DELETE", "PATCH"},
		AllowHeaders: []string{"Authorization", "Content-Type", "*"},
	}
}

func (c *converter) cors() {
	p := field.NewPath("spec", "corsPolicy")
	if c.in.Spec.CorsPolicy == nil || string(*c.in.Spec.CorsPolicy) == "null" {
		c.out.Spec.CorsPolicy = DefaultCORS()
		c.note(p, "not set: v1beta1 applied Kyma's default CORS policy (any origin; GET, POST, PUT, DELETE, PATCH; headers Authorization, Content-Type, *) and v2 applies none, so it is written out; narrow it if the API is not meant for every origin")
		return
	}
	var in v1beta1CORS
	if err := json.Unmarshal(*c.in.Spec.CorsPolicy, &in); err != nil {
		c.refuse(field.Invalid(p, string(*c.in.Spec.CorsPolicy), "not a corsPolicy: "+err.Error()))
		return
	}
	out := &apirule.CorsPolicy{
		AllowHeaders:     in.AllowHeaders,
		AllowMethods:     in.AllowMethods,
		AllowCredentials: in.AllowCredentials,
		ExposeHeaders:    in.ExposeHeaders,
	}
	for i, m := range in.AllowOrigins {
		om := map[string]string{}
		for _, k := range sortedKeys(m) {
			switch k {
			case "regex", "exact", "prefix":
				om[k] = m[k]
			default:
				// Kyma reads any other key as a prefix match.
				om["prefix"] = m[k]
				c.note(p.Child("allowOrigins").Index(i), "key %q is not regex, exact or prefix; Kyma read it as prefix %q, and v2 writes it so", k, m[k])
			}
		}
		if len(om) > 0 {
			out.AllowOrigins = append(out.AllowOrigins, om)
		}
	}
	if in.MaxAge != nil && *in.MaxAge != "" {
		d, err := time.ParseDuration(*in.MaxAge)
		switch {
		case err != nil:
			c.refuse(field.Invalid(p.Child("maxAge"), *in.MaxAge, "not a duration (e.g. 300s or 5m): "+err.Error()))
		case d < time.Second:
			c.note(p.Child("maxAge"), "%s is less than a second; v2 counts whole seconds from 1, so browsers fall back to their default preflight cache time", *in.MaxAge)
		default:
			s := int64(d / time.Second)
			out.MaxAge = &s
			if d%time.Second != 0 {
				c.note(p.Child("maxAge"), "%s is cut to %d seconds (v2 counts whole seconds, as Access-Control-Max-Age does)", *in.MaxAge, s)
			}
		}
	}
	c.out.Spec.CorsPolicy = out
	if len(out.AllowOrigins) == 0 {
		c.note(p.Child("allowOrigins"), "empty: Kyma sets no CORS policy at all without origins, in v1beta1 as in v2; the other corsPolicy fields have no effect")
	}
}
