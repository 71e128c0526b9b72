package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/pki/pkitest"
	"github.com/gatewarden/gatewarden/review"
)

// kymaFinalizer is the finalizer Kyma's controller puts on every APIRule and
// removes, with an UPDATE, once the APIRule is being deleted.
const kymaFinalizer = "gateway.kyma-project.io/subresources"

// relabel sets a label on a stored object with an UPDATE that changes no
// spec, retrying on conflicts.
func relabel(ctx context.Context, c client.Client, u *unstructured.Unstructured, key, value string) error {
	return eventuallyNoConflict(func() error {
		cur := u.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
			return err
		}
		l := cur.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[key] = value
		cur.SetLabels(l)
		return c.Update(ctx, cur)
	})
}

// dropFinalizers removes every finalizer with an UPDATE, as the owning
// controller does once the object is being deleted.
func dropFinalizers(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	return eventuallyNoConflict(func() error {
		cur := u.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
			return err
		}
		cur.SetFinalizers(nil)
		return c.Update(ctx, cur)
	})
}

func eventuallyNoConflict(f func() error) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = f(); err == nil || !apierrors.IsConflict(err) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// waitGone waits until the object no longer exists.
func waitGone(t *testing.T, u *unstructured.Unstructured, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u.DeepCopy())
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s/%s still exists after %s (last: %v)", u.GetKind(), u.GetNamespace(), u.GetName(), within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// untilWarned repeats a write until some warning mentions every fragment:
// the answer depends on gatewarden's cache catching up with a deletion.
func untilWarned(t *testing.T, write func(client.Client) error, fragments ...string) {
	t.Helper()
	var last []string
	for i := 0; i < 100; i++ {
		c, w := newClient(t)
		admitted(t, write(c))
		if w.has(fragments...) {
			return
		}
		last = w.all()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no warning mentions %q; last warnings: %q", fragments, last)
}

// An APIRule whose Service went first (the order of a namespace or Helm
// release teardown): label updates are admitted with a warning, a spec
// change that breaks something new is still denied, and Kyma's finalizer
// removal completes the deletion. Kyma's VirtualService for it, labelled
// the api-gateway 3.5 way, does not count as someone else's host.
func TestDay2APIRuleOutlivesItsService(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, w := newClient(t)
	rule := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: day2, namespace: %s, finalizers: [%s]}
spec:
  hosts: [day2.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - {path: /headers, methods: [GET], noAuth: true}
`, ns, kymaFinalizer))
	// What Kyma's controller creates for it: no ownerReference, the owner
	// labels. It exists first here, as after a gatewarden restart.
	mustCreate(t, obj(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: day2-vs
  namespace: %[1]s
  labels: {apirule.gateway.kyma-project.io/name: day2, apirule.gateway.kyma-project.io/namespace: %[1]s}
spec:
  hosts: [day2.local.kyma.dev]
  gateways: [kyma-system/kyma-gateway]
  http: [{route: [{destination: {host: httpbin.%[1]s.svc.cluster.local, port: {number: 8000}}}]}]
`, ns)))
	// Another APIRule wanting the host is refused in the VirtualService's
	// owner's name: gatewarden has seen it.
	intruder := rule.DeepCopy()
	intruder.SetName("intruder")
	intruder.SetFinalizers(nil)
	denied(t, eventuallyDenied(func() error { return c.Create(ctx, intruder.DeepCopy(), client.DryRunAll) }),
		"apirule-host-taken", "APIRule "+ns+"/day2 (VirtualService "+ns+"/day2-vs)")
	// (d) the owner itself is admitted, and so are its spec updates.
	admitted(t, c.Create(ctx, rule.DeepCopy()))
	admitted(t, eventuallyNoConflict(func() error {
		cur := rule.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(rule), cur); err != nil {
			return err
		}
		_ = unstructured.SetNestedField(cur.Object, int64(30), "spec", "timeout")
		return c.Update(ctx, cur)
	}))
	notWarned(t, w, "apirule-host-taken")

	// The Service goes first.
	if err := env.Client.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	// (b) a label update is admitted; the warning says what is wrong, and
	// that it predates the update.
	untilWarned(t, func(c client.Client) error { return relabel(ctx, c, rule, "team", "a") },
		"apirule-service", "spec.service.name", "changes no spec")

	// (c) a spec update that points the APIRule at a gateway that does not
	// exist is denied for that; the Service, gone before, only warns.
	var err error
	broken := rule.DeepCopy()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rule), broken); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(broken.Object, "kyma-system/no-such-gateway", "spec", "gateway")
	c2, w2 := newClient(t)
	err = c2.Update(ctx, broken)
	denied(t, err, "spec.gateway", "apirule-gateway")
	if strings.Contains(err.Error(), "apirule-service") {
		t.Errorf("the missing Service predates the update, yet it denies: %v", err)
	}
	warned(t, w2, "apirule-service", review.NotePreexisting)

	// (a) delete: the controller's finalizer removal is admitted and the
	// object goes.
	if err := env.Client.Delete(ctx, rule.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	c3, w3 := newClient(t)
	admitted(t, dropFinalizers(ctx, c3, rule))
	waitGone(t, rule, 10*time.Second)
	for _, msg := range w3.all() {
		if strings.Contains(msg, "apirule-service") && !strings.Contains(msg, review.NoteDeleting) {
			t.Errorf("warning on the finalizer removal does not say the object is being deleted: %s", msg)
		}
	}
}

// (e) The same for a Gateway whose credential Secret was deleted first.
func TestDay2GatewayOutlivesItsSecret(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	gatewayPods(t, "day2")
	c, _ := newClient(t)
	ca := pkitest.New(t, pkitest.Options{CN: "day2-ca", CA: true})
	server := pkitest.New(t, pkitest.Options{CN: "day2.example.com", DNSNames: []string{"day2.example.com"}, Parent: ca})
	clients := pkitest.New(t, pkitest.Options{CN: "day2-clients", CA: true})
	certs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "day2-certs", Namespace: "istio-system"},
		Data: map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM, "ca.crt": clients.CertPEM}}
	mustCreate(t, certs)
	gw := gatewayWithTLS(t, ns, "day2", "day2", "day2.example.com", "{mode: MUTUAL, credentialName: day2-certs, minProtocolVersion: TLSV1_2}")
	gw.SetFinalizers([]string{"example.com/cleanup"})
	admitted(t, eventually(func() error { return c.Create(ctx, gw.DeepCopy()) }))

	if err := env.Client.Delete(ctx, certs); err != nil {
		t.Fatal(err)
	}
	untilWarned(t, func(c client.Client) error { return relabel(ctx, c, gw, "team", "a") }, "gateway-tls-secret", "day2-certs")
	if err := env.Client.Delete(ctx, gw.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	admitted(t, dropFinalizers(ctx, c, gw))
	waitGone(t, gw, 10*time.Second)
}

// (f) `kubectl delete namespace` completes with APIRules, Services,
// Gateways and Secrets in it, while a stand-in for Kyma's controller
// removes its finalizer only after the Services are gone: the order that
// used to leave APIRules Terminating for ever.
func TestDay2NamespaceDeletionCompletes(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	httpbin(t, ns)
	c, _ := newClient(t)
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-secret", Namespace: ns}, StringData: map[string]string{"k": "v"}})
	var rules []*unstructured.Unstructured
	for i := 0; i < 3; i++ {
		r := obj(t, fmt.Sprintf(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: teardown-%[2]d, namespace: %[1]s, finalizers: [%[3]s]}
spec:
  hosts: [teardown-%[2]d-%[1]s.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - {path: /headers, methods: [GET], noAuth: true}
`, ns, i, kymaFinalizer))
		admitted(t, eventually(func() error { return c.Create(ctx, r.DeepCopy()) }))
		rules = append(rules, r)
	}
	admitted(t, eventually(func() error {
		return c.Create(ctx, obj(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: app-gateway, namespace: %s}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["app.local.kyma.dev"]
`, ns)))
	}))

	// The stand-in controller: once an APIRule is being deleted and the
	// namespace has no Service left, remove the finalizer through the
	// webhook, as Kyma does. Every UPDATE it makes must be admitted.
	stop := make(chan struct{})
	errs := make(chan error, len(rules))
	go func() {
		done := map[string]bool{}
		for len(done) < len(rules) {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var svcs corev1.ServiceList
			if err := env.Client.List(ctx, &svcs, client.InNamespace(ns)); err != nil || len(svcs.Items) > 0 {
				continue
			}
			for _, r := range rules {
				cur := r.DeepCopy()
				if done[r.GetName()] || env.Client.Get(ctx, client.ObjectKeyFromObject(r), cur) != nil || cur.GetDeletionTimestamp() == nil {
					continue
				}
				done[r.GetName()] = true
				errs <- dropFinalizers(ctx, c, cur)
			}
		}
	}()
	defer close(stop)

	kubectl := exec.Command(filepath.Join(root(t), "bin", "kubectl"), "--kubeconfig", env.Kubeconfig,
		"delete", "namespace", ns, "--wait", "--timeout", "120s")
	out, err := kubectl.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl delete namespace: %v\n%s", err, out)
	}
	for range rules {
		select {
		case err := <-errs:
			admitted(t, err)
		default:
			t.Error("an APIRule was deleted without its finalizer being removed by the stand-in controller")
		}
	}
}

// populatedObjects is what a cluster holds before gatewarden is installed:
// 34 objects of every kind, 8 of them already broken in ways the checks
// report.
func populatedObjects(t *testing.T, ns string) []*unstructured.Unstructured {
	var docs []string
	add := func(format string, args ...any) { docs = append(docs, fmt.Sprintf(format, args...)) }
	for i, svc := range []string{"orders", "payments", "catalog", "inventory", "shipping"} {
		add(`{apiVersion: v1, kind: Service, metadata: {name: %s, namespace: %s}, spec: {selector: {app: %s}, ports: [{port: %d}]}}`, svc, ns, svc, 8080+i)
	}
	add(`{apiVersion: v1, kind: Secret, metadata: {name: unrelated, namespace: %s}, stringData: {k: v}}`, ns)
	// APIRules v2: good ones, and ones whose references are wrong.
	for _, r := range []struct{ name, svc, gw, path string }{
		{"orders", "orders", "kyma-system/kyma-gateway", "/orders"},
		{"payments", "payments", "kyma-system/kyma-gateway", "/pay/{**}"},
		{"catalog", "catalog", "kyma-system/kyma-gateway", "/items/{*}"},
		{"missing-service", "ghost", "kyma-system/kyma-gateway", "/x"},
		{"missing-gateway", "orders", "kyma-system/old-gateway", "/y"},
		{"bad-path", "catalog", "kyma-system/kyma-gateway", "/a*b"},
	} {
		add(`
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: %[1]s, namespace: %[2]s, finalizers: [%[6]s]}
spec:
  hosts: [%[1]s-%[2]s.local.kyma.dev]
  gateway: %[4]s
  service: {name: %[3]s, port: 8080}
  rules: [{path: "%[5]s", methods: [GET], noAuth: true}]
`, r.name, ns, r.svc, r.gw, r.path, kymaFinalizer)
	}
	// APIRule v1beta1 as Kyma 1.x left them.
	add(`
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: legacy, namespace: %[1]s, finalizers: [%[2]s]}
spec:
  host: legacy-%[1]s.local.kyma.dev
  gateway: kyma-gateway.kyma-system.svc.cluster.local
  service: {name: orders, port: 8080}
  rules: [{path: /.*, methods: [GET], accessStrategies: [{handler: allow}]}]
`, ns, kymaFinalizer)
	add(`
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: legacy-broken, namespace: %[1]s, finalizers: [%[2]s]}
spec:
  host: legacy-broken-%[1]s.local.kyma.dev
  gateway: kyma-gateway.kyma-system.svc.cluster.local
  service: {name: ghost, port: 80}
  rules: [{path: /.*, methods: [GET], accessStrategies: [{handler: allow}]}]
`, ns, kymaFinalizer)
	// Gateways.
	for i := 0; i < 6; i++ {
		add(`{apiVersion: networking.istio.io/v1, kind: Gateway, metadata: {name: web-%d, namespace: %s}, spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["web-%d.example.com"]}]}}`, i, ns, i)
	}
	add(`{apiVersion: networking.istio.io/v1beta1, kind: Gateway, metadata: {name: mtls-no-ca, namespace: %s}, spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["m.example.com"], tls: {mode: MUTUAL}}]}}`, ns)
	add(`{apiVersion: networking.istio.io/v1alpha3, kind: Gateway, metadata: {name: missing-secret, namespace: %s}, spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["s.example.com"], tls: {mode: SIMPLE, credentialName: nowhere, minProtocolVersion: TLSV1_2}}]}}`, ns)
	// RequestAuthentications.
	for i := 0; i < 3; i++ {
		add(`{apiVersion: security.istio.io/v1, kind: RequestAuthentication, metadata: {name: ra-%d, namespace: %s}, spec: {selector: {matchLabels: {app: orders}}, jwtRules: [{issuer: "issuer-%d", jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig"}]}'}]}}`, i, ns, i)
	}
	add(`{apiVersion: security.istio.io/v1beta1, kind: RequestAuthentication, metadata: {name: ra-bad-header, namespace: %s}, spec: {jwtRules: [{issuer: "issuer-x", jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig"}]}', fromHeaders: [{name: "bad header"}]}]}}`, ns)
	// AuthorizationPolicies.
	for i := 0; i < 6; i++ {
		add(`{apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: {name: ap-%d, namespace: %s}, spec: {action: ALLOW, rules: [{to: [{operation: {methods: [GET], paths: ["/p%d"]}}]}]}}`, i, ns, i)
	}
	add(`{apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: {name: custom-no-provider, namespace: %s}, spec: {action: CUSTOM, provider: {name: oauth2-proxy}, rules: [{to: [{operation: {paths: ["/admin"]}}]}]}}`, ns)
	add(`{apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: allow-nothing, namespace: %s}, spec: {action: ALLOW}}`, ns)
	var out []*unstructured.Unstructured
	for _, d := range docs {
		out = append(out, obj(t, d))
	}
	return out
}

// Install into a populated cluster: objects created while the webhook is
// absent, some of them broken, then the webhook installed, then every
// object labelled and deleted: no denial, and the warnings name what is
// wrong.
func TestDay2InstallIntoPopulatedCluster(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	kymaGateway(t)
	if err := env.UninstallWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	reinstalled := false
	t.Cleanup(func() {
		if !reinstalled {
			_ = env.InstallWebhooks(context.Background())
		}
	})
	objs := populatedObjects(t, ns)
	if len(objs) < 30 {
		t.Fatalf("only %d objects", len(objs))
	}
	for _, o := range objs {
		// Without the webhook these are stored as they are, broken or not.
		if err := env.Client.Create(ctx, o.DeepCopy()); err != nil {
			t.Fatalf("creating %s %s without the webhook: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if err := env.InstallWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	reinstalled = true

	// What each broken object's warnings must name.
	expect := map[string][]string{
		"APIRule/missing-service":                {"apirule-service"},
		"APIRule/missing-gateway":                {"apirule-gateway"},
		"APIRule/bad-path":                       {"apirule-path"},
		"APIRule/legacy-broken":                  {"service"},
		"Gateway/mtls-no-ca":                     {"gateway-mtls-credential"},
		"Gateway/missing-secret":                 {"gateway-tls-secret"},
		"RequestAuthentication/ra-bad-header":    {"requestauthentication-header-name"},
		"AuthorizationPolicy/custom-no-provider": {"authorizationpolicy-custom-provider"},
	}
	checked := []string{"APIRule", "Gateway", "RequestAuthentication", "AuthorizationPolicy"}
	for _, o := range objs {
		if !slices.Contains(checked, o.GetKind()) {
			continue
		}
		key := o.GetKind() + "/" + o.GetName()
		c, w := newClient(t)
		if err := relabel(ctx, c, o, "gatewarden-e2e/touched", "yes"); err != nil {
			t.Errorf("%s: label update refused: %v", key, err)
			continue
		}
		for _, id := range expect[key] {
			if !w.has(id, "changes no spec") {
				t.Errorf("%s: no warning names %s and says it predates the update; warnings: %q", key, id, w.all())
			}
		}
		if err := env.Client.Delete(ctx, o.DeepCopy()); err != nil {
			t.Fatalf("%s: delete: %v", key, err)
		}
		if len(o.GetFinalizers()) > 0 {
			if err := dropFinalizers(ctx, c, o); err != nil {
				t.Errorf("%s: finalizer removal while deleting refused: %v", key, err)
			}
		}
		waitGone(t, o, 10*time.Second)
	}
}

// root is the repository root, where bin/ is.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}
