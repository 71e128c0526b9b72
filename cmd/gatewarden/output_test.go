package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gatewarden/gatewarden/internal/core"
)

const issuerRAYAML = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: team}
spec:
  jwtRules:
  - issuer: https://idp.example.test
`

// ciManifests writes two manifest files under dir/manifests: a.yaml holds
// an allowed Gateway (line 1) and the denied MUTUAL one (line 10), b.yaml a
// RequestAuthentication that warns offline. It returns the relative paths.
func ciManifests(t *testing.T, dir string) (string, string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "manifests"), 0o700); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join("manifests", "a.yaml"), filepath.Join("manifests", "b.yaml")
	if strings.Count(plainGatewayYAML, "\n") != 8 {
		t.Fatal("plainGatewayYAML changed: fix the line numbers below")
	}
	for p, content := range map[string]string{a: plainGatewayYAML + "---\n" + mutualGatewayYAML, b: issuerRAYAML} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func sarifValidator(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join(schemaDir, "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validSARIF(t *testing.T, out string) map[string]any {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if err := sarifValidator(t).Validate(inst); err != nil {
		t.Fatalf("not valid SARIF 2.1.0: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type sarifDoc struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Name  string
				Rules []struct {
					ID                   string
					Help                 struct{ Text, Markdown string }
					DefaultConfiguration struct{ Level string }
				}
			}
		}
		Results []struct {
			RuleID    string
			RuleIndex int
			Level     string
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct{ URI string }
					Region           *struct{ StartLine int }
				}
				LogicalLocations []struct{ FullyQualifiedName string }
			}
		}
	}
}

func TestCheckSARIF(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	a, b := ciManifests(t, dir)
	code, out, stderr := runCaptured(t, "check", "-f", "manifests", "-o", "sarif", "--no-network")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a denial); stderr %s", code, stderr)
	}
	validSARIF(t, out)
	var doc sarifDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 1 || doc.Runs[0].Tool.Driver.Name != "gatewarden" {
		t.Fatalf("runs %+v", doc.Runs)
	}
	run := doc.Runs[0]
	rules := run.Tool.Driver.Rules
	// Every check of the registry is a rule, with its help and level.
	for _, c := range core.Catalog() {
		found := false
		for _, r := range rules {
			if r.ID == c.ID {
				found = true
				if !strings.Contains(r.Help.Text, c.Description) || !strings.Contains(r.Help.Text, "checks."+c.ID) {
					t.Errorf("rule %s help %q lacks the description or how to configure it", c.ID, r.Help.Text)
				}
				if want := sarifLevel(string(c.Default)); r.DefaultConfiguration.Level != want {
					t.Errorf("rule %s level %q, want %q", c.ID, r.DefaultConfiguration.Level, want)
				}
			}
		}
		if !found {
			t.Errorf("no rule for check %s", c.ID)
		}
	}
	type res struct {
		rule, level, uri string
		line             int
	}
	var got []res
	for _, r := range run.Results {
		if rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d (%s)", r.RuleID, r.RuleIndex, rules[r.RuleIndex].ID)
		}
		l := r.Locations[0]
		if l.PhysicalLocation == nil || l.PhysicalLocation.Region == nil {
			t.Fatalf("result %s has no file location", r.RuleID)
		}
		got = append(got, res{r.RuleID, r.Level, l.PhysicalLocation.ArtifactLocation.URI, l.PhysicalLocation.Region.StartLine})
	}
	want := []res{
		{"gateway-mtls-credential", "error", filepath.ToSlash(a), 10},
		{"jwt-issuer-discovery", "warning", filepath.ToSlash(b), 1},
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("no result %+v among %+v", w, got)
		}
	}
}

func TestCheckSARIFFromStdinAndAbsolutePaths(t *testing.T) {
	// Standard input has no file to point at: the object is named instead.
	code, out := runWithStdin(t, mutualGatewayYAML, "check", "-f", "-", "-o", "sarif", "--no-network")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	validSARIF(t, out)
	var doc sarifDoc
	_ = json.Unmarshal([]byte(out), &doc)
	r := doc.Runs[0].Results[0]
	if r.Locations[0].PhysicalLocation != nil || r.Locations[0].LogicalLocations[0].FullyQualifiedName != "networking.istio.io.Gateway/team/mtls" {
		t.Errorf("stdin location %+v, want only the object's name", r.Locations[0])
	}

	abs := filepath.Join(t.TempDir(), "dir with space", "gw.yaml")
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(abs, []byte(mutualGatewayYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out, _ = runCaptured(t, "check", "-f", abs, "-o", "sarif", "--no-network")
	validSARIF(t, out)
	_ = json.Unmarshal([]byte(out), &doc)
	uri := doc.Runs[0].Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI
	if !strings.HasPrefix(uri, "file:///") || !strings.Contains(uri, "dir%20with%20space/gw.yaml") {
		t.Errorf("absolute path as %q, want an escaped file URI", uri)
	}
}

// runWithStdin is runCaptured with stdin.
func runWithStdin(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(f, []byte(stdin), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	old := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = old }()
	code, out, _ := runCaptured(t, args...)
	return code, out
}

type junitDoc struct {
	Suites []struct {
		Name      string `xml:"name,attr"`
		Tests     int    `xml:"tests,attr"`
		Failures  int    `xml:"failures,attr"`
		Timestamp string `xml:"timestamp,attr"`
		Cases     []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

func TestCheckJUnit(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	a, b := ciManifests(t, dir)
	code, out, stderr := runCaptured(t, "check", "-f", "manifests", "-o", "junit", "--no-network")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	if errs := loadXSD(t, filepath.Join(schemaDir, "JUnit.xsd")).validate([]byte(out)); len(errs) != 0 {
		t.Fatalf("not valid against JUnit.xsd:\n%s\n%s", strings.Join(errs, "\n"), out)
	}
	var doc junitDoc
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Name != a || doc.Suites[1].Name != b {
		t.Fatalf("suites %+v, want one per file: %s, %s", doc.Suites, a, b)
	}
	sa, sb := doc.Suites[0], doc.Suites[1]
	if sa.Tests != 2 || sa.Failures != 1 || len(sa.Cases) != 2 {
		t.Errorf("suite %s: tests %d failures %d cases %d, want 2, 1, 2", sa.Name, sa.Tests, sa.Failures, len(sa.Cases))
	}
	plain, mtls := sa.Cases[0], sa.Cases[1]
	if plain.Name != "default/plain" || plain.Failure != nil || plain.Classname != "networking.istio.io.Gateway" {
		t.Errorf("plain case %+v, want passing default/plain of networking.istio.io.Gateway", plain)
	}
	if mtls.Name != "team/mtls" || mtls.Failure == nil || !strings.Contains(mtls.Failure.Text, "[gateway-mtls-credential]") ||
		!strings.Contains(mtls.Failure.Message, "spec.servers[0].tls.credentialName") {
		t.Errorf("mtls case %+v, want a failure naming the field and check", mtls)
	}
	if sb.Failures != 0 || !strings.Contains(sb.SystemOut, "RequestAuthentication team/jwt: Warning: ") ||
		!strings.Contains(sb.SystemOut, "[jwt-issuer-discovery]") {
		t.Errorf("suite %s: failures %d, system-out %q; want the warning there", sb.Name, sb.Failures, sb.SystemOut)
	}
}

func TestCheckUnknownOutput(t *testing.T) {
	p := writeFile(t, "plain.yaml", plainGatewayYAML)
	code, _, stderr := runCaptured(t, "check", "-f", p, "-o", "xml")
	if code != 2 || !strings.Contains(stderr, "text, json, junit, sarif") {
		t.Errorf("exit %d, stderr %q; want 2 and the formats named", code, stderr)
	}
}

// The JUnit document holds whatever the messages say, escaped.
func TestJUnitEscapes(t *testing.T) {
	var buf bytes.Buffer
	r := CheckResult{APIVersion: "v1", Kind: "Gateway", Namespace: "a", Name: "b", Source: "x <&> y.yaml:3",
		Violations: []core.Finding{{Check: "c", Field: "spec", Message: "bad <value> & \"quotes\"\nsecond line"}}}
	if err := writeJUnit(&buf, []CheckResult{r}, testTime); err != nil {
		t.Fatal(err)
	}
	if errs := loadXSD(t, filepath.Join(schemaDir, "JUnit.xsd")).validate(buf.Bytes()); len(errs) != 0 {
		t.Fatalf("invalid: %v\n%s", errs, buf.String())
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if f := doc.Suites[0].Cases[0].Failure; f == nil || !strings.Contains(f.Text, "bad <value> & \"quotes\"\nsecond line") {
		t.Errorf("failure text %+v does not round-trip", f)
	}
	if doc.Suites[0].Name != "x <&> y.yaml" || doc.Suites[0].Timestamp != "2026-12-01T10:00:00" {
		t.Errorf("suite %q at %q", doc.Suites[0].Name, doc.Suites[0].Timestamp)
	}
}

// schemaDir is absolute: tests change the working directory.
var schemaDir = func() string {
	d, err := filepath.Abs(filepath.Join("testdata", "schemas"))
	if err != nil {
		panic(err)
	}
	return d
}()

var testTime = mustTime("2026-12-01T10:00:00Z")

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The schema validation has teeth: documents SARIF forbids are refused.
func TestSARIFSchemaRefuses(t *testing.T) {
	_, out, _ := runCaptured(t, "check", "-f", writeFile(t, "gw.yaml", mutualGatewayYAML), "-o", "sarif", "--no-network")
	for name, bad := range map[string]string{
		"unknown level": strings.Replace(out, `"level": "error"`, `"level": "fatal"`, 1),
		"wrong version": strings.Replace(out, `"version": "2.1.0"`, `"version": "2.2.0"`, 1),
		"bad line":      strings.Replace(out, `"startLine": 1`, `"startLine": 0`, 1),
		"unknown field": strings.Replace(out, `"ruleId":`, `"rule": "x", "ruleId":`, 1),
		"not a uri":     strings.Replace(out, `"uri": "file://`, `"uri": "file://bad host/`, 1),
	} {
		if bad == out {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if sarifValidator(t).Validate(inst) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// An object without a namespace is checked with the namespace filled in, as
// the API server sends it: it is not mistaken for another object of the
// same name in the state (a Gateway sharing hosts with itself).
func TestCheckDefaultNamespaceIsNotAnotherObject(t *testing.T) {
	code, out, stderr := runCaptured(t, "check", "-f", writeFile(t, "plain.yaml", plainGatewayYAML), "-o", "json", "--no-network")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct{ Results []CheckResult }
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 1 || len(doc.Results[0].Warnings) != 0 || doc.Results[0].Namespace != "default" {
		t.Errorf("results %+v, want the Gateway in default without warnings", doc.Results)
	}
}
