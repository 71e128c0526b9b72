package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// runGatewarden runs bin/gatewarden and returns its exit status and output.
func runGatewarden(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin", "gatewarden"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running gatewarden %s: %v", args[0], err)
	}
	return code, out.String(), errOut.String()
}

// trustArgs let a gatewarden command fetch from the suite's issuers, as the
// webhook does.
func trustArgs() []string {
	return []string{"--ca-file", env.PKI.CAFile, "--allow-cidr", env.Issuer.Host() + "/32"}
}

// TestMigrateLiveAPIRules stores v1beta1 APIRules in every form migrate
// reads (v1beta1 objects, and a v2 object whose v1beta1 spec is in Kyma's
// annotation), migrates them from the cluster, and replaces each with its v2
// form through the API server: the webhook must admit every one.
func TestMigrateLiveAPIRules(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, map[string]string{"gatewarden.io/enforcement": "off"})
	kymaGateway(t)
	httpbin(t, ns)
	c, _ := newClient(t)
	host := func(name string) string { return name + "-" + ns + ".local.kyma.dev" }

	// Kyma stores v1beta1 rules it cannot convert as a v2 object with the
	// spec in an annotation; such an object only exists through Kyma's
	// conversion, so it is stored while the namespace is exempt.
	converted := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata:
  name: converted
  annotations:
    gateway.kyma-project.io/original-version: v1beta1
    gateway.kyma-project.io/v1beta1-spec: '{"host":"%s","service":{"name":"httpbin","port":8000},"gateway":"kyma-gateway.kyma-system.svc.cluster.local","rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"allow"}]}]}'
spec:
  hosts: [%s]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
`, host("converted"), host("converted")))
	converted.SetNamespace(ns)
	admitted(t, eventually(func() error { return c.Create(ctx, converted.DeepCopy()) }))
	nsObj := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	delete(nsObj.Labels, "gatewarden.io/enforcement")
	if err := c.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	// The webhook enforces in the namespace again once it denies this.
	canary := obj(t, `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: canary}
spec:
  hosts: [canary.local.kyma.dev]
  gateway: kyma-system/no-such-gateway
  service: {name: httpbin, port: 8000}
  rules: [{path: /x, methods: [GET], noAuth: true}]
`)
	canary.SetNamespace(ns)
	denied(t, eventuallyDenied(func() error { return c.Create(ctx, canary.DeepCopy(), client.DryRunAll) }), "apirule-gateway")

	for name, spec := range map[string]string{
		"open": `
  host: ` + host("open") + `
  gateway: kyma-gateway.kyma-system.svc.cluster.local
  service: {name: httpbin, port: 8000}
  rules:
  - {path: /anything, methods: [POST], accessStrategies: [{handler: noop}]}
  - {path: /.*, methods: [GET], accessStrategies: [{handler: no_auth}]}`,
		"istio-jwt": `
  host: ` + host("istio-jwt") + `
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  corsPolicy: {allowOrigins: [{exact: "https://app.local.kyma.dev"}], maxAge: 10m}
  rules:
  - path: /headers
    methods: [GET]
    mutators: [{handler: header, config: {headers: {X-Migrated: "yes"}}}]
    accessStrategies:
    - handler: jwt
      config:
        authentications: [{issuer: "` + env.Issuer.Good() + `", jwksUri: "` + env.Issuer.Good() + `/jwks"}]
        authorizations: [{requiredScopes: [read]}]`,
		"ory-jwt": `
  host: ` + host("ory-jwt") + `
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /ip
    methods: [GET]
    accessStrategies: [{handler: jwt, config: {jwks_urls: ["` + env.Issuer.Good() + `/jwks"], required_scope: [read]}}]`,
		"unmigratable": `
  host: ` + host("unmigratable") + `
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - {path: "/[0-9]+", methods: [GET], accessStrategies: [{handler: no_auth}]}`,
	} {
		r := obj(t, "apiVersion: gateway.kyma-project.io/v1beta1\nkind: APIRule\nmetadata: {name: "+name+"}\nspec:"+spec+"\n")
		r.SetNamespace(ns)
		admitted(t, eventually(func() error { return c.Create(ctx, r.DeepCopy()) }))
	}

	code, stdout, stderr := runGatewarden(t, append([]string{"migrate", "--kubeconfig", env.Kubeconfig, "-n", ns}, trustArgs()...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one APIRule cannot be migrated)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"apirule.gateway.kyma-project.io/converted (namespace " + ns + ", from cluster, annotation gateway.kyma-project.io/v1beta1-spec): migrated with notes",
		"apirule.gateway.kyma-project.io/ory-jwt (namespace " + ns + ", from cluster, v1beta1 fields of an object read as v2): migrated with notes",
		`v2 accepts only issuer "` + env.Issuer.Good() + `"`,
		"apirule.gateway.kyma-project.io/unmigratable",
		`error: spec.rules[0].path: Invalid value: "/[0-9]+"`,
		"5 APIRules: 0 migrated, 4 migrated with notes, 1 refused",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("report lacks %q:\n%s", want, stderr)
		}
	}

	var names []string
	w := &warnings{}
	for _, doc := range strings.Split(stdout, "\n---\n") {
		m := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &m.Object); err != nil {
			t.Fatalf("migrate printed no YAML: %v\n%s", err, stdout)
		}
		names = append(names, m.GetName())
		stored := &unstructured.Unstructured{}
		stored.SetGroupVersionKind(m.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: m.GetName()}, stored); err != nil {
			t.Fatal(err)
		}
		m.SetResourceVersion(stored.GetResourceVersion())
		cw, cwWarn := newClient(t)
		admitted(t, cw.Update(ctx, m))
		w.msgs = append(w.msgs, cwWarn.all()...)
		back := &unstructured.Unstructured{}
		back.SetGroupVersionKind(m.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: m.GetName()}, back); err != nil {
			t.Fatal(err)
		}
		if _, legacy, _ := unstructured.NestedString(back.Object, "spec", "host"); legacy {
			t.Errorf("%s still has spec.host after the replace", m.GetName())
		}
		if rules, _, _ := unstructured.NestedSlice(back.Object, "spec", "rules"); len(rules) == 0 {
			t.Errorf("%s has no rules after the replace", m.GetName())
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"converted", "istio-jwt", "open", "ory-jwt"}) {
		t.Fatalf("migrated %v", names)
	}
	notWarned(t, w, "apirule-v1beta1-deprecated")
}
