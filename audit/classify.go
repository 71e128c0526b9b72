package audit

import (
	"strings"

	"github.com/gatewarden/gatewarden/internal/core"
)

// Severity values of report results, as OpenReports and the Policy WG's
// PolicyReports define them.
const (
	SeverityHigh   = "high"
	SeverityMedium = "medium"
	SeverityLow    = "low"
	SeverityInfo   = "info"
)

// Categories of report results: which part of the exposure configuration a
// check looks at.
const (
	CategoryTrust         = "trust"
	CategoryGateway       = "gateway"
	CategoryAPIRule       = "apirule"
	CategoryAuthorization = "authorization"
	// CategoryException is for the checks of GatewardenExceptions.
	CategoryException = "exception"
)

// InternalCheck is the check ID of findings gatewarden makes about itself
// (an object it could not judge, an audit that did not finish).
const InternalCheck = "gatewarden"

// FindingClass says how sure a finding is that something is wrong.
type FindingClass int

const (
	// Problem: the check ran and found a misconfiguration.
	Problem FindingClass = iota
	// CouldNotCheck: a read or fetch the check needs got no answer, so the
	// check did not run; the object may well be fine.
	CouldNotCheck
	// NotChecked: gatewarden did not evaluate the check at all (switched
	// off network checks, an object it cannot judge, an audit that ran out
	// of time).
	NotChecked
)

// Classify tells the class of a finding from the conventions the checks
// follow: a dependency that could not be read is reported as a field
// internal error, an unanswered fetch says "got no answer", skipped network
// checks say so, and gatewarden's own notes carry the check ID
// "gatewarden". Tests in this package hold the validators to these
// conventions with their real output.
func Classify(f core.Finding) FindingClass {
	switch {
	case f.Check == InternalCheck:
		return NotChecked
	case strings.Contains(f.Message, "network checks were skipped"):
		return NotChecked
	case strings.HasPrefix(f.Message, "Internal error: "), strings.Contains(f.Message, " got no answer: "):
		return CouldNotCheck
	}
	return Problem
}

// Severity of a finding in a report: what the check's action made of it
// (a denial or a warning), lowered when the check could not run. The table
// is in docs/audit.md.
func Severity(f core.Finding, denied bool) string {
	switch Classify(f) {
	case NotChecked:
		return SeverityInfo
	case CouldNotCheck:
		return SeverityLow
	}
	if denied {
		return SeverityHigh
	}
	return SeverityMedium
}

// Category of a check: by the ID's prefix, which names what the check looks
// at (jwt-* checks are about issuers whatever the kind), else by the kind of
// the object.
func Category(check, kind string) string {
	prefix, _, _ := strings.Cut(check, "-")
	switch prefix {
	case "jwt":
		return CategoryTrust
	case "gateway":
		return CategoryGateway
	case "apirule":
		return CategoryAPIRule
	case "authorizationpolicy", "requestauthentication":
		return CategoryAuthorization
	case "exception":
		return CategoryException
	}
	switch kind {
	case core.KindGateway:
		return CategoryGateway
	case core.KindRequestAuthentication, core.KindAuthorizationPolicy:
		return CategoryAuthorization
	case core.KindException:
		return CategoryException
	}
	return CategoryAPIRule
}

// severityRank orders results for the cap: the most severe are kept.
func severityRank(s string) int {
	switch s {
	case SeverityHigh:
		return 0
	case SeverityMedium:
		return 1
	case SeverityLow:
		return 2
	}
	return 3
}
