// Package examples holds no code: its test checks that `gatewarden check`
// still gives the example manifests the verdicts their README documents.
package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// verdict is one object's expected verdict in seeds.verdicts.json.
type verdict struct {
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Allowed    bool     `json:"allowed"`
	Violations []string `json:"violations"`
	Warnings   []string `json:"warnings"`
}

type finding struct {
	Check string `json:"check"`
}

// checkOutput is the part of `gatewarden check -o json` compared here.
type checkOutput struct {
	Results []struct {
		Kind       string    `json:"kind"`
		Namespace  string    `json:"namespace"`
		Name       string    `json:"name"`
		Allowed    bool      `json:"allowed"`
		Violations []finding `json:"violations"`
		Warnings   []finding `json:"warnings"`
	} `json:"results"`
}

// checkIDs is the sorted, unique check IDs of findings.
func checkIDs(fs []finding) []string {
	ids := []string{}
	for _, f := range fs {
		ids = append(ids, f.Check)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestSeedVerdicts(t *testing.T) {
	raw, err := os.ReadFile("seeds.verdicts.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []verdict
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("seeds.verdicts.json: %v", err)
	}

	args := []string{"run", "../cmd/gatewarden", "check", "--no-network", "-o", "json", "-f", "seeds/"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	// Exit status 1 means some object is denied: a verdict, not a failure.
	if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("gatewarden check: %v\nstderr:\n%s", err, stderr.String())
	}
	var out checkOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("gatewarden check output is not the expected JSON: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}

	got := map[string]verdict{}
	denied := false
	for _, r := range out.Results {
		key := r.Kind + "/" + r.Name
		if _, dup := got[key]; dup {
			t.Errorf("%s: checked twice (namespaces differ?); verdicts.json cannot tell them apart", key)
		}
		got[key] = verdict{Kind: r.Kind, Name: r.Name, Allowed: r.Allowed,
			Violations: checkIDs(r.Violations), Warnings: checkIDs(r.Warnings)}
		denied = denied || !r.Allowed
	}
	if denied != (err != nil) {
		t.Errorf("exit status: some object denied = %v, but the command's error is %v", denied, err)
	}

	seen := map[string]bool{}
	for _, w := range want {
		key := w.Kind + "/" + w.Name
		seen[key] = true
		if w.Violations == nil {
			w.Violations = []string{}
		}
		if w.Warnings == nil {
			w.Warnings = []string{}
		}
		g, ok := got[key]
		switch {
		case !ok:
			t.Errorf("%s: in verdicts.json but not checked", key)
		case g.Allowed != w.Allowed:
			t.Errorf("%s: allowed = %v, want %v (violations %v)", key, g.Allowed, w.Allowed, g.Violations)
		}
		if ok && !slices.Equal(g.Violations, w.Violations) {
			t.Errorf("%s: violations %v, want %v", key, g.Violations, w.Violations)
		}
		if ok && !slices.Equal(g.Warnings, w.Warnings) {
			t.Errorf("%s: warnings %v, want %v", key, g.Warnings, w.Warnings)
		}
	}
	for key := range got {
		if !seen[key] {
			t.Errorf("%s: checked but missing from verdicts.json", key)
		}
	}
}
