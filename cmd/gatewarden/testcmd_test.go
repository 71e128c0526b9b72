package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testDir lays out files (path: content) under a new directory.
func testDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var testManifests = map[string]string{
	"manifests/gateways.yaml": plainGatewayYAML + "---\n" + mutualGatewayYAML,
	"manifests/ra.yaml":       issuerRAYAML,
}

func withTest(test string) map[string]string {
	files := map[string]string{"gatewarden-test.yaml": test}
	for k, v := range testManifests {
		files[k] = v
	}
	return files
}

const passingTest = `apiVersion: gatewarden.io/v1alpha1
kind: Test
name: gateways and issuers
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: allowed, deny: [], warn: []}
- {kind: Gateway, namespace: team, name: mtls, verdict: denied, deny: [gateway-mtls-credential]}
- {kind: RequestAuthentication, namespace: team, name: jwt, verdict: allowed, warn: [jwt-jwks-usable, jwt-issuer-discovery]}
`

func TestTestPasses(t *testing.T) {
	dir := testDir(t, withTest(passingTest))
	code, out, stderr := runCaptured(t, "test", dir, "--no-network")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "ok   gateways and issuers") || !strings.Contains(out, "1 test files, 3 expectations: 3 met, 0 not met") {
		t.Errorf("output:\n%s", out)
	}
}

func TestTestMismatchesExitOne(t *testing.T) {
	dir := testDir(t, withTest(`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/gateways.yaml, manifests/ra.yaml]
expect:
- {kind: Gateway, name: plain, verdict: denied}
- {kind: Gateway, namespace: team, name: mtls, verdict: denied, deny: [gateway-mtls-ca], warn: []}
- {kind: Gateway, namespace: team, name: absent, verdict: allowed}
- {kind: RequestAuthentication, namespace: team, name: jwt, verdict: allowed}
`))
	code, out, _ := runCaptured(t, "test", dir, "--no-network")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"FAIL " + dir,
		"Gateway default/plain:\n       verdict: want denied, got allowed",
		"Gateway team/mtls:",
		"deny: expected, not reported: gateway-mtls-ca",
		"deny: reported, not expected: gateway-mtls-credential",
		"  error: spec.servers[0].tls.credentialName: ",
		"Gateway team/absent:\n       no such object among the checked ones in the resources: Gateway default/plain, Gateway team/mtls, RequestAuthentication team/jwt",
		"1 test files, 4 expectations: 1 met, 3 not met",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The expectation that holds is not reported as a mismatch.
	if strings.Contains(out, "RequestAuthentication team/jwt:") {
		t.Errorf("a met expectation is listed:\n%s", out)
	}
}

func TestTestConfigPerTestFile(t *testing.T) {
	files := withTest(`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/gateways.yaml]
config: relaxed.yaml
expect:
- {kind: Gateway, namespace: team, name: mtls, verdict: allowed, warn: [gateway-mtls-credential]}
`)
	files["relaxed.yaml"] = "checks: {gateway-mtls-credential: warn}\n"
	code, out, stderr := runCaptured(t, "test", testDir(t, files), "--no-network")
	if code != 0 {
		t.Errorf("exit %d, want 0 with the test's config\n%s%s", code, out, stderr)
	}
}

func TestTestUnusableFilesExitTwo(t *testing.T) {
	for name, tc := range map[string]struct{ test, want string }{
		"unknown check and verdict": {`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: rejected, warn: [gateway-mtls]}
- {kind: Gateway, name: plain, verdict: allowed, deny: [gateway-mtls-ca]}
`, "* expect[0].verdict: Unsupported value: \"rejected\": supported values: \"allowed\", \"denied\""},
		"check ID": {`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: allowed, warn: [gateway-mtls]}
`, "expect[0].warn[0]: Not found: \"gateway-mtls\""},
		"allowed with violations": {`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: allowed, deny: [gateway-mtls-ca]}
`, "expect[0].deny: Invalid value: [\"gateway-mtls-ca\"]: an allowed object has no violations"},
		"unknown field": {`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: allowed, denied: []}
`, `unknown field "denied"`},
		"not a test file": {`apiVersion: v1
kind: ConfigMap
`, "* apiVersion: Unsupported value: \"v1\""},
		"same object twice": {`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: allowed}
- {kind: Gateway, namespace: default, name: plain, verdict: denied}
`, "expect[1]: Duplicate value: \"Gateway default/plain, as expect[0]\""},
		"missing resources": {`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [nothing-here/]
expect:
- {kind: Gateway, name: plain, verdict: allowed}
`, "resources: "},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runCaptured(t, "test", testDir(t, withTest(tc.test)))
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q\n%s", code, stderr, tc.want, out)
			}
		})
	}
	code, _, stderr := runCaptured(t, "test", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "no gatewarden-test.yaml under") {
		t.Errorf("empty dir: exit %d, stderr %q", code, stderr)
	}
}

// Several test files under one directory run in path order.
func TestTestFindsEveryFile(t *testing.T) {
	files := map[string]string{}
	for _, sub := range []string{"a", "b"} {
		for k, v := range withTest(passingTest) {
			files[filepath.Join(sub, k)] = v
		}
	}
	root := testDir(t, files)
	code, out, _ := runCaptured(t, "test", root, "--no-network")
	if code != 0 || !strings.Contains(out, "2 test files, 6 expectations: 6 met, 0 not met") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if strings.Index(out, filepath.Join(root, "a")) > strings.Index(out, filepath.Join(root, "b")) {
		t.Errorf("not in path order:\n%s", out)
	}
}

func TestTestJUnit(t *testing.T) {
	files := withTest(passingTest)
	for k, v := range withTest(`apiVersion: gatewarden.io/v1alpha1
kind: Test
resources: [manifests/]
expect:
- {kind: Gateway, name: plain, verdict: denied}
- {kind: Gateway, namespace: team, name: mtls, verdict: denied}
`) {
		files[filepath.Join("broken", k)] = v
	}
	root := testDir(t, files)
	code, out, stderr := runCaptured(t, "test", root, "--no-network", "-o", "junit")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	if errs := loadXSD(t, filepath.Join(schemaDir, "JUnit.xsd")).validate([]byte(out)); len(errs) != 0 {
		t.Fatalf("not valid against JUnit.xsd:\n%s\n%s", strings.Join(errs, "\n"), out)
	}
	var doc junitDoc
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("suites %+v, want one per test file", doc.Suites)
	}
	broken, passing := doc.Suites[0], doc.Suites[1]
	if passing.Name != "gateways and issuers" || passing.Tests != 3 || passing.Failures != 0 {
		t.Errorf("passing suite %+v", passing)
	}
	if broken.Tests != 2 || broken.Failures != 1 || broken.Cases[1].Failure == nil ||
		!strings.Contains(broken.Cases[1].Failure.Text, "verdict: want denied, got allowed") || broken.Cases[1].Name != "Gateway default/plain" {
		t.Errorf("broken suite %+v, want the plain Gateway failing on its verdict", broken)
	}
}
