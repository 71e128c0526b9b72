package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// The hostile-input suite through the real API server and `gatewarden
// serve`: objects a tenant can store (the CRDs accept them) get bounded
// answers within the admission budget, from a process whose memory stays
// under a quarter of the chart's limit.

// chartMemoryLimit is the chart's resources.limits.memory.
const chartMemoryLimit = 512 << 20

// hostilePeak bounds gatewarden's peak resident size through the suite:
// a quarter of the chart's limit, the half of the 256Mi it had before the
// audit's needs at 10,000 stored APIRules raised it. Hostile objects must
// not need more.
const hostilePeak = chartMemoryLimit / 4

// procMemory reads VmHWM (peak resident) and VmRSS of a process.
func procMemory(t *testing.T, pid int) (peak, rss uint64) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmHWM":
			peak = kb << 10
		case "VmRSS":
			rss = kb << 10
		}
	}
	return peak, rss
}

// slowIssuers is a loopback TLS server with the suite's certificate that
// serves any number of issuers (<URL>/i-N): after delay it answers a good
// discovery document or key set; with hang it holds every request until
// the client gives up. It counts requests and the most held at once.
type slowIssuers struct {
	URL      string
	delay    time.Duration
	hang     bool
	started  atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func newSlowIssuers(t *testing.T, delay time.Duration, hang bool) *slowIssuers {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.PKI.CertDir, "tls.crt"), filepath.Join(env.PKI.CertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	si := &slowIssuers{URL: "https://" + ln.Addr().String(), delay: delay, hang: hang}
	jwks := `{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"k","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`
	srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			si.started.Add(1)
			n := si.inFlight.Add(1)
			defer si.inFlight.Add(-1)
			for m := si.maxIn.Load(); n > m && !si.maxIn.CompareAndSwap(m, n); m = si.maxIn.Load() {
			}
			if si.hang {
				<-r.Context().Done()
				return
			}
			time.Sleep(si.delay)
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/jwks") {
				fmt.Fprint(w, jwks)
				return
			}
			iss := si.URL + strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss, iss+"/jwks")
		})}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return si
}

// drained waits until the server holds no request, so that no fetch of
// the admission can still be under way when counts are read.
func (si *slowIssuers) drained(t *testing.T) {
	t.Helper()
	waitFor(t, time.Minute, "the issuers' requests to end", func() error {
		if n := si.inFlight.Load(); n > 0 {
			return fmt.Errorf("%d requests held", n)
		}
		return nil
	})
}

func manyIssuersRA(ns, name, base string, n int) *rawObject {
	var b strings.Builder
	fmt.Fprintf(&b, `{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":%q,"namespace":%q},"spec":{"jwtRules":[`, name, ns)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"issuer":"%s/i-%d"}`, base, i)
	}
	b.WriteString(`]}}`)
	return &rawObject{ns: ns, body: b.String()}
}

func inlineJWKSRA(ns, name, entry string, n int) *rawObject {
	var b strings.Builder
	b.WriteString(`{"keys":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry)
	}
	b.WriteString(`]}`)
	jwks, _ := json.Marshal(b.String())
	return &rawObject{ns: ns, body: fmt.Sprintf(`{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":%q,"namespace":%q},"spec":{"jwtRules":[{"issuer":"tenant@example.com","jwks":%s}]}}`, name, ns, jwks)}
}

// rawObject is a RequestAuthentication as JSON: large objects are sent as
// they are, without a round trip through Go maps.
type rawObject struct {
	ns, body string
}

// admission is what the API server answered a dry-run create.
type admission struct {
	err      error
	status   *metav1.Status
	warnings []string
	took     time.Duration
	size     int // bytes of the answer: denial message and warnings
}

// rawDryRunCreate posts o with dryRun=All and collects the answer.
func rawDryRunCreate(t *testing.T, o *rawObject) admission {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	hc.Timeout = 30 * time.Second
	u := fmt.Sprintf("%s/apis/security.istio.io/v1/namespaces/%s/requestauthentications?dryRun=All", strings.TrimSuffix(env.Config.Host, "/"), o.ns)
	start := time.Now()
	resp, err := hc.Post(u, "application/json", strings.NewReader(o.body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a := admission{took: time.Since(start)}
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := utilnet.ParseWarningHeaders(resp.Header.Values("Warning"))
	for _, w := range ws {
		a.warnings = append(a.warnings, w.Text)
		a.size += len(w.Text)
	}
	if resp.StatusCode >= 300 {
		st := &metav1.Status{}
		if err := json.Unmarshal(body, st); err != nil {
			t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
		}
		a.status, a.err = st, apierrors.FromObject(st)
		a.size += len(st.Message)
	}
	return a
}

func TestHostileInputThroughServe(t *testing.T) {
	requireLocal(t) // reads the memory of the gatewarden process the suite runs
	ctx := context.Background()
	// A fresh process, so that its peak resident size is this test's.
	if err := env.RestartWith(ctx); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, nil)
	pid := env.PID()
	peak0, rss0 := procMemory(t, pid)
	t.Logf("gatewarden after start: peak resident %.1f MiB, resident %.1f MiB", float64(peak0)/(1<<20), float64(rss0)/(1<<20))

	bounded := func(t *testing.T, a admission) {
		t.Helper()
		if a.size > 16<<10 {
			t.Errorf("answer of %d bytes (denial and warnings), want at most 16 KiB", a.size)
		}
		if len(a.warnings) > 20 {
			t.Errorf("%d warnings, want few: %q", len(a.warnings), a.warnings)
		}
	}

	t.Run("inline jwks of 400,000 entries", func(t *testing.T) {
		w0 := webhookSeconds(t)
		a := rawDryRunCreate(t, inlineJWKSRA(ns, "many-entries", "1", 400000))
		t.Logf("answered in %s (gatewarden's validation %.3fs): %d bytes, %d warnings", a.took.Round(time.Millisecond), webhookSeconds(t)-w0, a.size, len(a.warnings))
		denied(t, a.err, "spec.jwtRules[0].jwks", "jwt-inline-jwks-usable", "among the first 100 of 400000 keys")
		if !w2(a).has("and 399997 more keys are not JSON objects") {
			t.Errorf("no warning counts the rest: %q", a.warnings)
		}
		bounded(t, a)
	})

	t.Run("inline jwks of 2 MB of symmetric keys", func(t *testing.T) {
		entry := `{"kty":"oct","k":"c2VjcmV0"}`
		w0 := webhookSeconds(t)
		a := rawDryRunCreate(t, inlineJWKSRA(ns, "two-mb", entry, 2<<20/(len(entry)+1)))
		t.Logf("answered in %s (gatewarden's validation %.3fs): %d bytes, %d warnings", a.took.Round(time.Millisecond), webhookSeconds(t)-w0, a.size, len(a.warnings))
		denied(t, a.err, "spec.jwtRules[0].jwks", "jwt-inline-jwks-usable", "more symmetric (oct) keys are published")
		bounded(t, a)
	})

	t.Run("1,500 slow issuers", func(t *testing.T) {
		si := newSlowIssuers(t, 100*time.Millisecond, false)
		w0 := webhookSeconds(t)
		a := rawDryRunCreate(t, manyIssuersRA(ns, "slow-issuers", si.URL, 1500))
		si.drained(t)
		t.Logf("answered in %s (gatewarden's validation %.3fs, admission budget 3s): %d requests to the issuers, at most %d at once; %d warnings",
			a.took.Round(time.Millisecond), webhookSeconds(t)-w0, si.started.Load(), si.maxIn.Load(), len(a.warnings))
		admitted(t, a.err)
		if n := si.started.Load(); n > trust.DefaultObjectFetches {
			t.Errorf("the issuers received %d requests, want at most %d", n, trust.DefaultObjectFetches)
		}
		if n := si.maxIn.Load(); n > trust.DefaultObjectFetchConcurrency {
			t.Errorf("the issuers held %d requests at once, want at most %d", n, trust.DefaultObjectFetchConcurrency)
		}
		if !w2(a).has("[jwt-issuer-discovery]", "not checked: the fetch budget of 16 per object is spent") {
			t.Errorf("no warning says what was not checked: %q", a.warnings)
		}
		bounded(t, a)
	})

	t.Run("1,500 issuers that never answer", func(t *testing.T) {
		si := newSlowIssuers(t, 0, true)
		w0 := webhookSeconds(t)
		a := rawDryRunCreate(t, manyIssuersRA(ns, "hanging-issuers", si.URL, 1500))
		si.drained(t)
		t.Logf("answered in %s (gatewarden's validation %.3fs, admission budget 3s, fetch timeout 2s): %d requests to the issuers, at most %d at once; %d warnings",
			a.took.Round(time.Millisecond), webhookSeconds(t)-w0, si.started.Load(), si.maxIn.Load(), len(a.warnings))
		admitted(t, a.err)
		// The first fetch times out, the second is under way at the
		// deadline; nothing starts after it (the report saw 1,500 start).
		if n := si.started.Load(); n > trust.DefaultObjectFetchConcurrency {
			t.Errorf("the issuers received %d requests after the deadline drained, want at most %d", n, trust.DefaultObjectFetchConcurrency)
		}
		if !w2(a).has("not checked: the time budget for this object was spent") {
			t.Errorf("no warning says the rest was not checked: %q", a.warnings)
		}
		bounded(t, a)
	})

	peak, rss := procMemory(t, pid)
	t.Logf("gatewarden after the hostile admissions: peak resident %.1f MiB (chart limit %d MiB), resident %.1f MiB",
		float64(peak)/(1<<20), chartMemoryLimit>>20, float64(rss)/(1<<20))
	if peak > hostilePeak {
		t.Errorf("peak resident %d bytes, want under a quarter of the chart's memory limit (%d)", peak, hostilePeak)
	}
	if env.PID() != pid {
		t.Errorf("gatewarden restarted during the hostile admissions (pid %d, was %d)", env.PID(), pid)
	}
}

// webhookSeconds is the time gatewarden's validating webhook has spent on
// RequestAuthentications so far (the histogram's sum): the difference
// around one admission is gatewarden's own share of its latency.
func webhookSeconds(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get(env.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "gatewarden_admission_duration_seconds_sum{") &&
			strings.Contains(line, `kind="RequestAuthentication"`) && strings.Contains(line, `webhook="validate"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// w2 wraps collected warnings for has().
func w2(a admission) *warnings { return &warnings{msgs: a.warnings} }

// TestHostileEnforcementLabelPolicy: the chart's ValidatingAdmissionPolicy,
// through the real API server: a tenant allowed by RBAC to manage
// namespaces cannot set, change or remove gatewarden's enforcement label;
// a member of an allowed group can.
func TestHostileEnforcementLabelPolicy(t *testing.T) {
	ctx := context.Background()
	const admins = "gatewarden-label-admins"
	objs := renderChartIn(t, "hostile", "gatewarden-system", "--show-only", "templates/enforcement-label-policy.yaml",
		"--set", "enforcementLabelPolicy.allowedGroups={system:masters,"+admins+"}")
	if len(objs) != 3 {
		t.Fatalf("rendered %d objects, want the policy, its binding and the label-admin ClusterRole", len(objs))
	}
	for _, o := range objs {
		mustCreate(t, o)
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}

	// Tenants may manage namespaces, as far as RBAC goes.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "hostile-namespace-editor"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "hostile-namespace-editor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "hostile-tenants"}}}
	mustCreate(t, role, binding)
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), binding)
		_ = env.Client.Delete(context.Background(), role)
	})
	as := func(user string, groups ...string) client.Client {
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
		c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tenant := as("tenant", "hostile-tenants")
	labelAdmin := as("label-admin", "hostile-tenants", admins)
	// RBAC grants the label too: a binding to the chart's label-admin
	// ClusterRole (cluster-admin has it already, as on kubeadm clusters,
	// whose admins are not in system:masters).
	delegate := as("delegate", "hostile-tenants")
	delegation := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "hostile-label-delegate"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "hostile-gatewarden-enforcement-label-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "delegate"}}}
	mustCreate(t, delegation)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), delegation) })

	const label = "gatewarden.io/enforcement"
	base := strings.TrimSuffix(namespace(t, nil), "-")
	nsObj := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	setLabels := func(c client.Client, name string, labels map[string]any) error {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		return c.Patch(ctx, nsObj(name, nil), client.RawPatch(types.MergePatchType, patch))
	}
	// In attach mode the installed release's own policy (the chart's
	// default groups) judges every namespace write as well, and either
	// refusal may come first. Both accept RBAC on the virtual resource, so
	// the label admins are bound to the release's label-admin ClusterRole
	// too: the group path alone is asserted by the suite's own control
	// plane.
	whose := "only members of system:masters and members of " + admins + " and users allowed to update enforcementlabels.gatewarden.io"
	if env.Attached() {
		whose = "only members of system:masters"
		roles := &rbacv1.ClusterRoleList{}
		if err := env.Client.List(ctx, roles); err != nil {
			t.Fatal(err)
		}
		for _, r := range roles.Items {
			if !strings.HasSuffix(r.Name, "-enforcement-label-admin") || strings.HasPrefix(r.Name, "hostile-") {
				continue
			}
			b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "hostile-label-admins-" + r.Name},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: r.Name},
				Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: admins}}}
			mustCreate(t, b)
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), b) })
		}
	}
	refused := func(t *testing.T, err error, what string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: allowed, want refused by the policy", what)
		}
		if !strings.Contains(err.Error(), whose) || !strings.Contains(err.Error(), "may add, change or remove the namespace label "+label) {
			t.Fatalf("%s: %v, want the policy's refusal", what, err)
		}
	}

	// The policy takes effect once the API server has loaded it.
	probe := base + "-probe"
	waitFor(t, time.Minute, "the policy to refuse a tenant's label", func() error {
		err := tenant.Create(ctx, nsObj(probe, map[string]string{label: "off"}), client.DryRunAll)
		if err == nil {
			return errors.New("still allowed")
		}
		if !strings.Contains(err.Error(), "only members of") {
			return err
		}
		return nil
	})

	owned := base + "-tenant"
	admitted(t, tenant.Create(ctx, nsObj(owned, map[string]string{"team": "a"})))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), nsObj(owned, nil)) })
	refused(t, tenant.Create(ctx, nsObj(base+"-off", map[string]string{label: "off"}), client.DryRunAll), "a tenant creates a namespace labelled off")
	refused(t, setLabels(tenant, owned, map[string]any{label: "off"}), "a tenant adds the label")
	admitted(t, setLabels(tenant, owned, map[string]any{"team": "b"}))

	admitted(t, setLabels(labelAdmin, owned, map[string]any{label: "warn"}))
	refused(t, setLabels(tenant, owned, map[string]any{label: "off"}), "a tenant changes the label")
	refused(t, setLabels(tenant, owned, map[string]any{label: nil}), "a tenant removes the label")
	admitted(t, setLabels(tenant, owned, map[string]any{"team": "c"})) // other labels stay the tenant's
	admitted(t, setLabels(labelAdmin, owned, map[string]any{label: "off"}))
	admitted(t, setLabels(labelAdmin, owned, map[string]any{label: nil}))
	admitted(t, labelAdmin.Create(ctx, nsObj(base+"-admin", map[string]string{label: "warn"}), client.DryRunAll))
	admitted(t, eventually(func() error {
		return delegate.Create(ctx, nsObj(base+"-delegate", map[string]string{label: "warn"}), client.DryRunAll)
	}))

	got := &corev1.Namespace{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: owned}, got); err != nil {
		t.Fatal(err)
	}
	if _, has := got.Labels[label]; has || got.Labels["team"] != "c" {
		t.Errorf("labels %v, want team=c and no %s", got.Labels, label)
	}
}

// TestHostileSecretsNotHeld: gatewarden reads Secrets in the gateway
// namespaces, where istiod keeps its signing CA. A recording proxy between
// a second gatewarden process and the API server sees every byte its
// Secret informers receive: a Secret created before the start (listed) and
// one created after (watched) arrive, istiod's CA secrets and a
// remote-cluster secret never do.
func TestHostileSecretsNotHeld(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	secret := func(name string, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: labels},
			Data: map[string][]byte{"ca-key.pem": []byte("not a real key"), "ca-cert.pem": []byte("not a real cert")}}
	}
	hidden := []string{"istio-ca-secret", "cacerts", "istio-remote-secret-hostile"}
	for _, s := range []*corev1.Secret{secret("istio-ca-secret", nil), secret("cacerts", nil),
		secret("istio-remote-secret-hostile", map[string]string{"istio/multiCluster": "true"}), secret("hostile-listed", nil)} {
		mustCreate(t, s)
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), s) })
	}

	rec := newRecordingProxy(t, append([]string{"hostile-listed", "hostile-watched"}, hidden...))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: %s}}]
users: [{name: proxy, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]
current-context: proxy
`, rec.url)), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := startServe(t, kubeconfig)
	defer stop()

	watched := secret("hostile-watched", nil)
	mustCreate(t, watched)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), watched) })
	// A change to a CA secret after the start would come through the watch.
	ca := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: "cacerts"}, ca); err != nil {
		t.Fatal(err)
	}
	ca.Data["root-cert.pem"] = []byte("rotated")
	if err := env.Client.Update(ctx, ca); err != nil {
		t.Fatal(err)
	}
	// Events of one watch arrive in order, so once a Secret created after
	// the CA update has arrived, the update would have too.
	waitFor(t, time.Minute, "the Secret created after the start to reach gatewarden", func() error {
		if !rec.saw("hostile-watched") {
			return errors.New("not yet")
		}
		return nil
	})
	stop()

	requests, bytesIn := rec.stats()
	t.Logf("gatewarden's Secret informers: %d requests, %d bytes received:\n%s", len(requests), bytesIn, strings.Join(requests, "\n"))
	if !rec.saw("hostile-listed") {
		t.Error("the Secret created before the start never reached gatewarden: the recording misses the list")
	}
	for _, name := range hidden {
		if rec.saw(name) {
			t.Errorf("gatewarden received Secret %s", name)
		}
	}
	namespaces := map[string]bool{}
	for _, r := range requests {
		if !strings.Contains(r, "fieldSelector=metadata.name!=istio-ca-secret,metadata.name!=cacerts labelSelector=istio/multiCluster!=true") {
			t.Errorf("a Secret request without the selectors: %s", r)
		}
		namespaces[strings.Split(r, "/")[4]] = true
	}
	if !namespaces["istio-system"] || !namespaces["kyma-system"] {
		t.Errorf("Secret requests in %v, want both gateway namespaces", namespaces)
	}
}

// recordingProxy forwards plain HTTP on loopback to the API server with the
// suite's admin credentials, and scans every response to a Secret request
// (JSON or protobuf, lists or watches) for the names it watches.
type recordingProxy struct {
	url   string
	names []string
	mu    sync.Mutex
	seen  map[string]bool
	reqs  []string
	bytes int64
}

func newRecordingProxy(t *testing.T, names []string) *recordingProxy {
	t.Helper()
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingProxy{names: names, seen: map[string]bool{}}
	proxy := &httputil.ReverseProxy{
		Transport:     rt,
		FlushInterval: -1, // watches stream
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// Scanned in the clear: the transport asks for and undoes
			// compression itself.
			r.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: func(resp *http.Response) error {
			if strings.Contains(resp.Request.URL.Path, "/secrets") {
				rec.mu.Lock()
				q := resp.Request.URL.Query()
				rec.reqs = append(rec.reqs, fmt.Sprintf("%s fieldSelector=%s labelSelector=%s (%s)", resp.Request.URL.Path,
					q.Get("fieldSelector"), q.Get("labelSelector"), resp.Header.Get("Content-Type")))
				rec.mu.Unlock()
				resp.Body = &scanningBody{ReadCloser: resp.Body, rec: rec}
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rec.url = "http://" + ln.Addr().String()
	return rec
}

func (rec *recordingProxy) saw(name string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.seen[name]
}

func (rec *recordingProxy) stats() ([]string, int64) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.reqs...), rec.bytes
}

// scanningBody looks for the names in what passes, across read boundaries.
type scanningBody struct {
	io.ReadCloser
	rec  *recordingProxy
	tail []byte
}

func (b *scanningBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		window := append(b.tail, p[:n]...)
		b.rec.mu.Lock()
		b.rec.bytes += int64(n)
		for _, name := range b.rec.names {
			// A name as a JSON string, or as the protobuf ObjectMeta.name
			// (field 1, length-delimited) that informers ask for.
			proto := append([]byte{0x0a, byte(len(name))}, name...)
			if bytes.Contains(window, []byte(`"`+name+`"`)) || bytes.Contains(window, proto) {
				b.rec.seen[name] = true
			}
		}
		b.rec.mu.Unlock()
		keep := min(len(window), 64)
		b.tail = append([]byte(nil), window[len(window)-keep:]...)
	}
	return n, err
}

// startServe runs a second gatewarden (no webhook configuration points at
// it, no audit) against kubeconfig until it is ready; stop ends it.
func startServe(t *testing.T, kubeconfig string) (stop func()) {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		p, err := framework.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	logPath := filepath.Join(t.TempDir(), "gatewarden.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join("..", "bin", "gatewarden"), "serve", "--kubeconfig", kubeconfig,
		"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]), "--cert-dir", env.PKI.CertDir,
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--secret-namespaces", "istio-system,kyma-system", "--audit-interval", "0", "--shutdown-delay", "0s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logFile.Close()
		})
	}
	t.Cleanup(stop)
	waitFor(t, 2*time.Minute, "the second gatewarden to be ready", func() error {
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("gatewarden exited:\n%s", log)
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return stop
}

// TestHostileChartValues: the trust cache bound is refused at render when
// it could take half of the memory limit.
func TestHostileChartValues(t *testing.T) {
	for set, want := range map[string]string{
		"trust.cacheMaxBytes=220Mi":   "exceeds half of resources.limits.memory",
		"trust.cacheMaxBytes=lots":    "cacheMaxBytes",
		"config.namespaceLabel=a b/c": "namespaceLabel",
	} {
		_, err := env.Helm("template", "bad", chartDir, "--namespace", chartNamespace, "--set", set)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: want an error mentioning %q, got %v", set, want, err)
		}
	}
	objs := renderChartIn(t, "hostile-values", chartNamespace, "--set", "trust.cacheMaxBytes=64Mi")
	if a := chartArgs(t, objs); !strings.Contains(strings.Join(a, " "), "--trust-cache-max-bytes=67108864") {
		t.Errorf("args %q lack the cache bound in bytes", a)
	}
}
