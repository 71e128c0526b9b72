package examples

// The corpus: one manifest file per case under corpus/, each written from a
// public document, issue or peer test table, with the runtime code that
// decides its truth. Every case is judged by `gatewarden check` and must get
// the verdict that istiod, Envoy or the Kyma controller implies. The file's
// header says what is expected:
//
//	# source: <where the case comes from>
//	# runtime: <repository path function that decides it>
//	# expect: <Kind>/<name> allowed|denied [deny=<id>,...] [warn=<id>,...]
//
// deny lists exactly the check IDs of the violations; warn lists check IDs
// that must be among the warnings (others may appear, such as the network
// checks that --no-network skips with a warning).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gatewardenBin is the binary TestMain builds from this checkout, so the
// corpus judges the code under test and not whatever bin/ holds.
var gatewardenBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gatewarden-corpus-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewardenBin = filepath.Join(dir, "gatewarden")
	build := exec.Command("go", "build", "-o", gatewardenBin, "../cmd/gatewarden")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatewarden:", err)
		return 1
	}
	return m.Run()
}

// Expectation is one "# expect:" line of a corpus case.
type Expectation struct {
	Kind, Name string
	Allowed    bool
	Deny, Warn []string
}

func (e Expectation) String() string {
	v := "denied"
	if e.Allowed {
		v = "allowed"
	}
	return fmt.Sprintf("%s/%s %s deny=%v warn=%v", e.Kind, e.Name, v, e.Deny, e.Warn)
}

// CorpusCase is one file of corpus/.
type CorpusCase struct {
	Path    string
	Sources []string
	Expect  []Expectation
}

// ReadCorpusCase parses the comment header of a case file.
func ReadCorpusCase(path string) (CorpusCase, error) {
	c := CorpusCase{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(body, "source:"):
			c.Sources = append(c.Sources, strings.TrimSpace(strings.TrimPrefix(body, "source:")))
		case strings.HasPrefix(body, "expect:"):
			e, err := parseExpectation(strings.TrimSpace(strings.TrimPrefix(body, "expect:")))
			if err != nil {
				return c, fmt.Errorf("%s: %v", path, err)
			}
			c.Expect = append(c.Expect, e)
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	switch {
	case len(c.Sources) == 0:
		return c, fmt.Errorf("%s: no # source: line", path)
	case len(c.Expect) == 0:
		return c, fmt.Errorf("%s: no # expect: line", path)
	}
	return c, nil
}

func parseExpectation(s string) (Expectation, error) {
	var e Expectation
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return e, fmt.Errorf("expect %q: want <Kind>/<name> allowed|denied [deny=...] [warn=...]", s)
	}
	kind, name, ok := strings.Cut(fields[0], "/")
	if !ok || kind == "" || name == "" {
		return e, fmt.Errorf("expect %q: %q is not <Kind>/<name>", s, fields[0])
	}
	e.Kind, e.Name = kind, name
	switch fields[1] {
	case "allowed":
		e.Allowed = true
	case "denied":
	default:
		return e, fmt.Errorf("expect %q: verdict %q is neither allowed nor denied", s, fields[1])
	}
	for _, f := range fields[2:] {
		k, v, ok := strings.Cut(f, "=")
		ids := strings.Split(v, ",")
		switch {
		case ok && k == "deny":
			e.Deny = append(e.Deny, ids...)
		case ok && k == "warn":
			e.Warn = append(e.Warn, ids...)
		default:
			return e, fmt.Errorf("expect %q: %q is not deny=<ids> or warn=<ids>", s, f)
		}
	}
	slices.Sort(e.Deny)
	slices.Sort(e.Warn)
	if e.Allowed && len(e.Deny) > 0 {
		return e, fmt.Errorf("expect %q: an allowed object has no deny IDs", s)
	}
	if !e.Allowed && len(e.Deny) == 0 {
		return e, fmt.Errorf("expect %q: a denied object names the checks that deny it", s)
	}
	return e, nil
}

// CorpusCases lists and parses every case file.
func CorpusCases(t testing.TB, dir string) []CorpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	var cases []CorpusCase
	for _, f := range files {
		c, err := ReadCorpusCase(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	return cases
}

// Mismatches compares a case's expectations with a verdict lookup; each
// returned string names one difference.
func (c CorpusCase) Mismatches(lookup func(kind, name string) (allowed bool, deny, warn []string, found bool)) []string {
	var out []string
	for _, e := range c.Expect {
		allowed, deny, warn, found := lookup(e.Kind, e.Name)
		if !found {
			out = append(out, fmt.Sprintf("%s/%s: not checked", e.Kind, e.Name))
			continue
		}
		got := "denied"
		if allowed {
			got = "allowed"
		}
		var diffs []string
		if allowed != e.Allowed {
			diffs = append(diffs, "verdict "+got)
		}
		if !slices.Equal(deny, e.Deny) {
			diffs = append(diffs, fmt.Sprintf("deny %v, want %v", deny, nonNilIDs(e.Deny)))
		}
		var missing []string
		for _, w := range e.Warn {
			if !slices.Contains(warn, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) > 0 {
			diffs = append(diffs, fmt.Sprintf("warnings %v lack %v", warn, missing))
		}
		if len(diffs) > 0 {
			out = append(out, fmt.Sprintf("%s/%s: %s (expected: %s)", e.Kind, e.Name, strings.Join(diffs, "; "), e))
		}
	}
	return out
}

func nonNilIDs(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

func TestCorpus(t *testing.T) {
	for _, c := range CorpusCases(t, "corpus") {
		t.Run(strings.TrimSuffix(filepath.Base(c.Path), ".yaml"), func(t *testing.T) {
			t.Parallel()
			out := runCheck(t, c.Path)
			got := map[string]int{}
			for _, r := range out.Results {
				got[r.Kind+"/"+r.Name]++
			}
			lookup := func(kind, name string) (bool, []string, []string, bool) {
				if got[kind+"/"+name] > 1 {
					t.Errorf("%s: %s/%s is checked %d times; give the objects under test distinct names", c.Path, kind, name, got[kind+"/"+name])
				}
				for _, r := range out.Results {
					if r.Kind == kind && r.Name == name {
						return r.Allowed, checkIDs(r.Violations), checkIDs(r.Warnings), true
					}
				}
				return false, nil, nil, false
			}
			for _, m := range c.Mismatches(lookup) {
				t.Errorf("%s (source: %s): %s", c.Path, strings.Join(c.Sources, ", "), m)
			}
		})
	}
}

// runCheck runs `gatewarden check --no-network -o json` on one file.
func runCheck(t *testing.T, path string) checkOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewardenBin, "check", "--no-network", "-o", "json", "-f", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Exit status 1 means some object is denied: a verdict, not a failure.
	if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("%s: gatewarden check: %v\nstderr:\n%s", path, err, stderr.String())
	}
	var out checkOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%s: output is not the expected JSON: %v\nstdout:\n%s\nstderr:\n%s", path, err, stdout.String(), stderr.String())
	}
	return out
}
