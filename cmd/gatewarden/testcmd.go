package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/manifest"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// TestFileName is the file `gatewarden test` looks for in the directories
// it is given, as `kyverno test` looks for kyverno-test.yaml.
const TestFileName = "gatewarden-test.yaml"

const (
	testAPIVersion = "gatewarden.io/v1alpha1"
	testKind       = "Test"
)

// TestFile is a gatewarden-test.yaml: manifests and what check must say
// about the objects in them.
type TestFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Name says what is tested; the file's path when empty.
	Name string `json:"name,omitempty"`
	// Resources are files or directories, relative to the test file,
	// checked together as `check -f` checks them: every object is also
	// cluster state for the others.
	Resources []string `json:"resources"`
	// Config is a gatewarden config file, relative to the test file; empty:
	// the --config flag, else the defaults.
	Config string `json:"config,omitempty"`
	// Namespace of objects that name none (default "default").
	Namespace string        `json:"namespace,omitempty"`
	Expect    []Expectation `json:"expect"`
}

// Expectation is what check must say about one object.
type Expectation struct {
	// APIVersion narrows the match when the resources hold the object in
	// more than one version.
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	// Namespace defaults to the test's namespace.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Verdict is allowed or denied.
	Verdict string `json:"verdict"`
	// Deny and Warn, when given, are exactly the check IDs of the
	// violations and of the warnings (in any order; [] for none).
	Deny *[]string `json:"deny,omitempty"`
	Warn *[]string `json:"warn,omitempty"`
}

type testFlags struct {
	commonFlags
	noNetwork bool
	output    string
}

func newTestCmd() *cobra.Command {
	f := &testFlags{}
	cmd := &cobra.Command{
		Use:   "test [DIR|FILE]...",
		Short: "Check manifests against the expectations in " + TestFileName + " files",
		Long: `test finds every ` + TestFileName + ` under the given directories (default: the current one), checks
its resources offline as ` + "`check -f`" + ` does, and compares each expected object's verdict and check IDs
with what the checks said.

  apiVersion: ` + testAPIVersion + `
  kind: ` + testKind + `
  name: mTLS gateways                 # optional
  resources: [manifests/]              # relative to this file
  config: gatewarden.yaml              # optional, relative to this file
  expect:
  - kind: Gateway
    namespace: team                    # default: the test's namespace, else "default"
    name: mtls
    verdict: denied                    # allowed | denied
    deny: [gateway-mtls-credential]    # optional: exactly these violations' check IDs
    warn: []                           # optional: exactly these warnings' check IDs ([] for none)

With -o junit the outcome is JUnit XML: a suite per test file, a test case per expectation.

Exit status: 0 every expectation met, 1 some not (each mismatch is printed), 2 unusable test files, manifests
or flags.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTests(cmd.Context(), f, args, cmd.OutOrStdout())
		},
	}
	f.commonFlags.add(cmd.Flags())
	cmd.Flags().BoolVar(&f.noNetwork, "no-network", false, "skip the checks that fetch from issuers (each skip is a warning)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text, or junit (a suite per test file, a test case per expectation)")
	return cmd
}

// findTestFiles lists the test files of the arguments, sorted.
func findTestFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		args = []string{"."}
	}
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == TestFileName {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s under %s", TestFileName, strings.Join(args, ", "))
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// loadTestFile reads and validates a test file; errors name the field.
func loadTestFile(path string) (*TestFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tf := &TestFile{}
	if err := yaml.UnmarshalStrict(raw, tf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if errs := tf.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("%s is not a usable test file:\n* %s", path, strings.Join(errorLines(errs), "\n* "))
	}
	return tf, nil
}

func errorLines(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func (tf *TestFile) validate() field.ErrorList {
	var errs field.ErrorList
	if tf.APIVersion != testAPIVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), tf.APIVersion, []string{testAPIVersion}))
	}
	if tf.Kind != testKind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), tf.Kind, []string{testKind}))
	}
	if len(tf.Resources) == 0 {
		errs = append(errs, field.Required(field.NewPath("resources"), "list the manifest files or directories to check, relative to this file"))
	}
	for i, r := range tf.Resources {
		if r == "" || r == "-" {
			errs = append(errs, field.Invalid(field.NewPath("resources").Index(i), r, "name a file or directory relative to this file"))
		}
	}
	if len(tf.Expect) == 0 {
		errs = append(errs, field.Required(field.NewPath("expect"), "list the objects and what check must say about them"))
	}
	seen := map[string]int{}
	for i, e := range tf.Expect {
		p := field.NewPath("expect").Index(i)
		if e.Kind == "" {
			errs = append(errs, field.Required(p.Child("kind"), "the object's kind, e.g. Gateway"))
		}
		if e.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "the object's name"))
		}
		if e.Verdict != "allowed" && e.Verdict != "denied" {
			errs = append(errs, field.NotSupported(p.Child("verdict"), e.Verdict, []string{"allowed", "denied"}))
		}
		ns := e.Namespace
		if ns == "" {
			ns = tf.defaultNamespace()
		}
		key := e.APIVersion + " " + e.Kind + " " + ns + "/" + e.Name
		if j, dup := seen[key]; dup {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("%s %s/%s, as expect[%d]", e.Kind, ns, e.Name, j)))
		}
		seen[key] = i
		for name, ids := range map[string]*[]string{"deny": e.Deny, "warn": e.Warn} {
			if ids == nil {
				continue
			}
			for j, id := range *ids {
				if !knownCheck(id) {
					errs = append(errs, field.NotFound(p.Child(name).Index(j), id))
				}
			}
		}
		if e.Verdict == "allowed" && e.Deny != nil && len(*e.Deny) > 0 {
			errs = append(errs, field.Invalid(p.Child("deny"), *e.Deny, "an allowed object has no violations: use warn, or verdict denied"))
		}
		if e.Verdict == "denied" && e.Deny != nil && len(*e.Deny) == 0 {
			errs = append(errs, field.Invalid(p.Child("deny"), *e.Deny, "a denied object has violations: name their check IDs, or leave deny out"))
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}

// defaultNamespace is the namespace of objects and expectations that name
// none.
func (tf *TestFile) defaultNamespace() string {
	if tf.Namespace == "" {
		return "default"
	}
	return tf.Namespace
}

// mismatch is one way an object differs from its expectation.
type mismatch struct {
	exp   Expectation
	lines []string
}

// testOutcome is one test file's result.
type testOutcome struct {
	path, name string
	passed     []Expectation
	failed     []mismatch
}

func runTests(ctx context.Context, f *testFlags, args []string, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.output != "text" && f.output != "junit" {
		return fmt.Errorf("--output %q: want text or junit", f.output)
	}
	start := time.Now()
	paths, err := findTestFiles(args)
	if err != nil {
		return err
	}
	files := make([]*TestFile, len(paths))
	var errs []error
	for i, p := range paths {
		if files[i], err = loadTestFile(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var outcomes []testOutcome
	for i, tf := range files {
		o, err := runTestFile(ctx, f, paths[i], tf)
		if err != nil {
			return err
		}
		outcomes = append(outcomes, o)
	}
	mismatches := 0
	for _, o := range outcomes {
		mismatches += len(o.failed)
	}
	if f.output == "junit" {
		if err := writeTestJUnit(out, outcomes, start); err != nil {
			return err
		}
	} else {
		printTestOutcomes(out, outcomes)
	}
	if mismatches > 0 {
		return exitError{code: 1}
	}
	return nil
}

func printTestOutcomes(out io.Writer, outcomes []testOutcome) {
	expectations, mismatches := 0, 0
	for _, o := range outcomes {
		status := "ok  "
		if len(o.failed) > 0 {
			status = "FAIL"
		}
		fmt.Fprintf(out, "%s %s (%s)\n", status, o.name, o.path)
		for _, m := range o.failed {
			fmt.Fprintf(out, "     %s %s/%s:\n", m.exp.Kind, m.exp.Namespace, m.exp.Name)
			for _, l := range m.lines {
				fmt.Fprintf(out, "       %s\n", l)
			}
		}
		expectations += len(o.passed) + len(o.failed)
		mismatches += len(o.failed)
	}
	fmt.Fprintf(out, "%d test files, %d expectations: %d met, %d not met\n", len(outcomes), expectations, expectations-mismatches, mismatches)
}

// writeTestJUnit renders test outcomes as JUnit XML: a suite per test file,
// a test case per expectation, failing with its mismatches.
func writeTestJUnit(w io.Writer, outcomes []testOutcome, now time.Time) error {
	host, err := os.Hostname()
	if err != nil || xmlToken(host) == "" {
		host = "localhost"
	}
	doc := junitSuites{}
	for i, o := range outcomes {
		s := junitSuite{Package: "gatewarden.test", ID: i, Name: xmlToken(o.name), Hostname: xmlToken(host),
			Timestamp: now.UTC().Format("2006-01-02T15:04:05"), Time: "0",
			Properties: []junitProperty{{Name: "file", Value: o.path}, {Name: "gatewarden.version", Value: version}}}
		if s.Name == "" {
			s.Name = xmlToken(o.path)
		}
		name := func(e Expectation) string { return xmlToken(fmt.Sprintf("%s %s/%s", e.Kind, e.Namespace, e.Name)) }
		for _, e := range o.passed {
			s.Cases = append(s.Cases, junitCase{Name: name(e), Classname: xmlToken(s.Name), Time: "0"})
		}
		for _, m := range o.failed {
			s.Failures++
			s.Cases = append(s.Cases, junitCase{Name: name(m.exp), Classname: xmlToken(s.Name), Time: "0",
				Failure: &junitFailure{Message: m.lines[0], Type: "mismatch", Text: strings.Join(m.lines, "\n")}})
		}
		s.Tests = len(s.Cases)
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// runTestFile checks one test file's resources as `check -f` does and
// compares the results with its expectations.
func runTestFile(ctx context.Context, f *testFlags, path string, tf *TestFile) (testOutcome, error) {
	dir := filepath.Dir(path)
	o := testOutcome{path: path, name: tf.Name}
	if o.name == "" {
		o.name = dir
	}
	var cfg *config.Config
	var err error
	if tf.Config != "" {
		cfg, err = config.Load(filepath.Join(dir, tf.Config))
	} else {
		cfg, err = f.loadConfig()
	}
	if err != nil {
		return o, fmt.Errorf("%s: config: %w", path, err)
	}
	var resolver trust.Resolver = trust.Offline{}
	if !f.noNetwork {
		opts, err := f.trustOptions(cfg)
		if err != nil {
			return o, err
		}
		if resolver, err = newResolver(opts); err != nil {
			return o, err
		}
	}
	var res []string
	for _, r := range tf.Resources {
		res = append(res, filepath.Join(dir, r))
	}
	objs, err := manifest.Read(res, nil)
	if err != nil {
		return o, fmt.Errorf("%s: resources: %w", path, err)
	}
	ns := tf.defaultNamespace()
	results, err := checkObjects(ctx, cfg, resolver, objs, ns, f.meshConfigMap())
	if err != nil {
		return o, fmt.Errorf("%s: %w", path, err)
	}
	for _, e := range tf.Expect {
		if e.Namespace == "" {
			e.Namespace = ns
		}
		if lines := compare(e, results); len(lines) > 0 {
			o.failed = append(o.failed, mismatch{exp: e, lines: lines})
		} else {
			o.passed = append(o.passed, e)
		}
	}
	return o, nil
}

// compare says how the checked object differs from e; nothing when it
// matches.
func compare(e Expectation, results []CheckResult) []string {
	var found []CheckResult
	var names []string
	for _, r := range results {
		names = append(names, objectName(r))
		if r.Kind == e.Kind && r.Namespace == e.Namespace && r.Name == e.Name && (e.APIVersion == "" || r.APIVersion == e.APIVersion) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return []string{fmt.Sprintf("no such object among the checked ones in the resources: %s", strings.Join(names, ", "))}
	case 1:
	default:
		var vs []string
		for _, r := range found {
			vs = append(vs, r.APIVersion)
		}
		return []string{fmt.Sprintf("%d objects match (apiVersions %s): give apiVersion", len(found), strings.Join(vs, ", "))}
	}
	r := found[0]
	var lines []string
	got := "allowed"
	if !r.Allowed {
		got = "denied"
	}
	if got != e.Verdict {
		lines = append(lines, fmt.Sprintf("verdict: want %s, got %s", e.Verdict, got))
	}
	if e.Deny != nil {
		lines = append(lines, diffIDs("deny", *e.Deny, findingIDs(r.Violations))...)
	}
	if e.Warn != nil {
		lines = append(lines, diffIDs("warn", *e.Warn, findingIDs(r.Warnings))...)
	}
	if len(lines) > 0 {
		// What check said, so the fix can be decided without a rerun.
		for _, v := range r.Violations {
			lines = append(lines, "  error: "+v.String())
		}
		for _, w := range r.Warnings {
			lines = append(lines, "  Warning: "+w.String())
		}
	}
	return lines
}

// diffIDs compares check ID sets: what was expected and not reported, and
// what was reported and not expected.
func diffIDs(what string, want, got []string) []string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, id := range want {
		w[id] = true
	}
	for _, id := range got {
		g[id] = true
	}
	var missing, extra []string
	for id := range w {
		if !g[id] {
			missing = append(missing, id)
		}
	}
	for id := range g {
		if !w[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	var out []string
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("%s: expected, not reported: %s", what, strings.Join(missing, ", ")))
	}
	if len(extra) > 0 {
		out = append(out, fmt.Sprintf("%s: reported, not expected: %s", what, strings.Join(extra, ", ")))
	}
	return out
}
