package explain

import (
	"fmt"
	"io"
)

var marks = map[Outcome]string{Pass: "✓", Fail: "✗", Info: "·", Unknown: "?"}

// Render writes the report as text.
func Render(w io.Writer, r *Report) {
	fmt.Fprintf(w, "request: %s\n", r.Request)
	for i, s := range r.Steps {
		fmt.Fprintf(w, "%d. %s: %s\n", i+1, s.Name, s.Outcome)
		for _, l := range s.Lines {
			fmt.Fprintf(w, "   %s %s\n", marks[l.Outcome], l.Text)
		}
	}
	v := r.Verdict
	switch v.Decision {
	case Refused:
		status := ""
		if v.Status != 0 {
			status = fmt.Sprintf(" with %d", v.Status)
			if v.Body != "" {
				status += fmt.Sprintf(" %q", v.Body)
			}
		}
		fmt.Fprintf(w, "verdict: refused%s; first failing step: %s: %s\n", status, v.Step, v.Reason)
	case Undetermined:
		fmt.Fprintf(w, "verdict: undetermined at step %s: %s\n", v.Step, v.Reason)
	default:
		fmt.Fprintf(w, "verdict: allowed: %s\n", v.Reason)
	}
}
