package validators

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
)

var ExceptionChecks = core.Register(core.Check{
	ID:          "exception-checks",
	Kinds:       []string{core.KindException},
	Default:     core.Deny,
	Description: "checks name existing checks of the target's kind; `*` only where exceptions.allowAllChecks is set",
	Runtime:     "gatewarden review/exceptions.go (an exception covers only the checks it names; a name that is no check covers nothing)",
})

var ExceptionTarget = core.Register(core.Check{
	ID:          "exception-target",
	Kinds:       []string{core.KindException},
	Default:     core.Deny,
	Description: "target names a checked kind and a name or labels; reason says why",
	Runtime:     "gatewarden review/exceptions.go (an exception covers the objects its target matches)",
})

var ExceptionExpiry = core.Register(core.Check{
	ID:          "exception-expiry",
	Kinds:       []string{core.KindException},
	Default:     core.Deny,
	Description: "expiresAt lies in the future and at most exceptions.maxDuration (default 90 days) after the exception's creation",
	Runtime:     "gatewarden review/exceptions.go (an exception covers nothing after expiresAt or beyond exceptions.maxDuration)",
})

// ExceptionExpired warns on an object whose findings an exception covered
// until it expired: the reason the object is denied again.
var ExceptionExpired = core.Register(core.Check{
	ID:          "exception-expired",
	Kinds:       core.ExceptableKinds,
	Default:     core.Warn,
	Description: "no GatewardenException that covered this object's findings has expired",
	Runtime:     "gatewarden review/exceptions.go (an expired exception covers nothing, so its findings deny again)",
})

// Exception checks a GatewardenException: the CRD's schema has checked its
// shape; what it covers and for how long is checked here, against the
// registry of checks and the configuration.
func Exception(_ context.Context, obj *core.Object, env *core.Env, r *core.Report) {
	e := obj.Typed.(*exception.GatewardenException)
	spec := field.NewPath("spec")
	settings := env.Exceptions.WithDefaults()
	r.Deny(ExceptionTarget, exceptionTarget(e, spec)...)
	r.Deny(ExceptionChecks, exceptionChecks(e, settings, spec.Child("checks"))...)
	now := time.Now()
	if env.Now != nil {
		now = env.Now()
	}
	expiry := spec.Child("expiresAt")
	switch at := e.Spec.ExpiresAt.Time; {
	case at.IsZero():
		r.Deny(ExceptionExpiry, field.Required(expiry, "an exception must end: set an RFC 3339 time, at most "+days(settings.MaxDuration.Duration)+" from now"))
	case !at.After(now):
		err := field.Invalid(expiry, at.UTC().Format(time.RFC3339), "already passed, so this exception covers nothing: delete it, or write a new one with a later expiresAt")
		// The audit reports a stale exception without failing it: it does
		// no harm, it only no longer helps.
		if obj.Operation == "AUDIT" {
			r.Warn(ExceptionExpiry, err)
		} else {
			r.Deny(ExceptionExpiry, err)
		}
	default:
		created := e.CreationTimestamp.Time
		if created.IsZero() {
			created = now
		}
		if limit := created.Add(settings.MaxDuration.Duration); at.After(limit) {
			r.Deny(ExceptionExpiry, field.Invalid(expiry, at.UTC().Format(time.RFC3339), fmt.Sprintf(
				"%s after the exception's creation; exceptions last at most %s (exceptions.maxDuration): set %s or earlier, and write a new exception when that runs out",
				days(at.Sub(created)), days(settings.MaxDuration.Duration), limit.UTC().Format(time.RFC3339))))
		}
	}
}

func exceptionTarget(e *exception.GatewardenException, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	t, p := e.Spec.Target, spec.Child("target")
	if !slices.Contains(core.ExceptableKinds, t.Kind) {
		errs = append(errs, field.NotSupported(p.Child("kind"), t.Kind, core.ExceptableKinds))
	}
	if t.Name == "" && len(t.MatchLabels) == 0 {
		errs = append(errs, field.Required(p, "name the object (target.name) or select objects by label (target.matchLabels); an exception for every object of a kind is a namespace exemption, which the operator configures"))
	}
	if t.Name != "" {
		for _, msg := range validation.IsDNS1123Subdomain(t.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), t.Name, msg))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(t.MatchLabels, p.Child("matchLabels"))...)
	if strings.TrimSpace(e.Spec.Reason) == "" {
		errs = append(errs, field.Required(spec.Child("reason"), "say why the findings are accepted and what will fix them: the reason is shown with every finding this exception covers"))
	}
	return errs
}

func exceptionChecks(e *exception.GatewardenException, s core.ExceptionSettings, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(e.Spec.Checks) == 0 {
		return field.ErrorList{field.Required(p, "list the IDs of the checks to except (`gatewarden checks` lists them)")}
	}
	kindChecks := core.ForKind(e.Spec.Target.Kind)
	seen := map[string]bool{}
	for i, id := range e.Spec.Checks {
		ip := p.Index(i)
		if seen[id] {
			errs = append(errs, duplicate(ip, id, "listed twice"))
			continue
		}
		seen[id] = true
		if id == exception.AllChecks {
			if !s.AllowAllChecks {
				errs = append(errs, field.Forbidden(ip, "`*` would except every check: name the checks whose findings are accepted (exceptions.allowAllChecks is not set)"))
			}
			continue
		}
		c, ok := core.Lookup(id)
		switch {
		case !ok:
			errs = append(errs, field.Invalid(ip, id, "no such check: `gatewarden checks` lists the check IDs"))
		case c == ExceptionExpired || slices.Contains(c.Kinds, core.KindException):
			errs = append(errs, field.Invalid(ip, id, "checks of exceptions cannot be excepted"))
		case slices.Contains(core.ExceptableKinds, e.Spec.Target.Kind) && !slices.Contains(kindChecks, c):
			errs = append(errs, field.Invalid(ip, id, fmt.Sprintf("this check does not look at %ss, so excepting it does nothing: it checks %s", e.Spec.Target.Kind, strings.Join(c.Kinds, ", "))))
		}
	}
	return errs
}

// days writes a duration in days when it is a whole number of them.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.Round(time.Minute).String()
}
