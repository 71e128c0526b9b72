package review

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/exception"
	"github.com/gatewarden/gatewarden/validators"
)

// except applies the GatewardenExceptions of the object's namespace to its
// findings: those of the checks an active exception targeting the object
// names become warnings naming the exception (docs/exceptions.md), and an
// expired one that would have covered some says so. The exceptions are read
// only for objects with findings, so a clean admission pays nothing.
func except(ctx context.Context, obj *core.Object, env *core.Env, rep *core.Report) {
	if !rep.HasFindings() || !slices.Contains(core.ExceptableKinds, obj.Kind) {
		return
	}
	m, ok := obj.Typed.(metav1.Object)
	if !ok {
		return
	}
	list, err := env.Cluster.Exceptions(ctx, obj.Namespace)
	if err != nil {
		rep.Warnings = append(rep.Warnings, core.Finding{Check: "gatewarden",
			Message: fmt.Sprintf("could not read the GatewardenExceptions of namespace %s, so none was applied: %v", obj.Namespace, err)})
		return
	}
	if len(list) == 0 {
		return
	}
	name := m.GetName()
	if name == "" {
		name = obj.Name
	}
	s := env.Exceptions.WithDefaults()
	cover := exception.For(list, obj.Kind, name, m.GetLabels(), env.Now(),
		exception.Options{AllowAllChecks: s.AllowAllChecks, MaxDuration: s.MaxDuration.Duration})
	exceptable := map[string]bool{}
	for _, c := range core.ForKind(obj.Kind) {
		exceptable[c.ID] = c != validators.ExceptionExpired
	}
	var found []string
	for _, f := range append(slices.Clone(rep.Violations), rep.Warnings...) {
		if exceptable[f.Check] && !slices.Contains(found, f.Check) {
			found = append(found, f.Check)
		}
	}
	rep.Except(func(f core.Finding) (string, string) {
		if !exceptable[f.Check] {
			return "", ""
		}
		return cover.Covering(f.Check)
	})
	for _, msg := range cover.Expired(found) {
		rep.WarnObject(validators.ExceptionExpired, msg)
	}
}

// exemptReason says why the namespace is exempt, "" when it is not.
func (rv *Reviewer) exemptReason(ns string, e config.Enforcement) string {
	if e != config.Exempt {
		return ""
	}
	if slices.Contains(rv.Config.ExemptNamespaces, ns) {
		return fmt.Sprintf("not checked: namespace %s is in the configuration's exemptNamespaces", ns)
	}
	return fmt.Sprintf("not checked: namespace %s is labelled %s=off", ns, rv.Config.NamespaceLabel)
}
