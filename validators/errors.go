package validators

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func notFound(p *field.Path, value any, detail string) *field.Error {
	e := field.NotFound(p, value)
	e.Detail = detail
	return e
}

func duplicate(p *field.Path, value any, detail string) *field.Error {
	e := field.Duplicate(p, value)
	e.Detail = detail
	return e
}

// couldNotRun is the warning of a check whose cluster read failed.
func couldNotRun(p *field.Path, what string, err error) *field.Error {
	return field.InternalError(p, fmt.Errorf("could not read %s, so this check did not run: %v", what, err))
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
