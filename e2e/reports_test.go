package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gatewarden/gatewarden/audit"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/selfcert"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// openReportsCRDs are the OpenReports CRDs, which the control plane does not
// install at start.
func openReportsCRDs(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, f := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "crds", "openreports", f))
		if err != nil {
			t.Fatal(err)
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatal(err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

func discoveryClient(t *testing.T) discovery.DiscoveryInterface {
	t.Helper()
	d, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// setOpenReportsCRDs installs (or removes) the OpenReports CRDs and waits
// until discovery agrees.
func setOpenReportsCRDs(t *testing.T, installed bool) {
	t.Helper()
	ctx := context.Background()
	for _, crd := range openReportsCRDs(t) {
		var err error
		if installed {
			err = env.Client.Create(ctx, crd)
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		} else if err = env.Client.Delete(ctx, crd); apierrors.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			t.Fatalf("CRD %s: %v", crd.GetName(), err)
		}
	}
	served := audit.DiscoveryServed(discoveryClient(t))
	waitFor(t, 60*time.Second, fmt.Sprintf("OpenReports served = %v", installed), func() error {
		ok, err := served(ctx, audit.OpenReports)
		if err != nil {
			return err
		}
		if ok != installed {
			return fmt.Errorf("served = %v", ok)
		}
		if !installed {
			// Also gone from the store: a later install starts afresh.
			for _, crd := range openReportsCRDs(t) {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(crdGVK)
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(crd), u); !apierrors.IsNotFound(err) {
					return fmt.Errorf("CRD %s still there (%v)", crd.GetName(), err)
				}
			}
		}
		return nil
	})
}

// reportResults reads the results of gatewarden's report of kind gvk in ns.
func reportResults(gvk schema.GroupVersionKind, ns string) (*unstructured.Unstructured, []map[string]any, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: audit.ReportName}, u); err != nil {
		return nil, nil, err
	}
	raw, _, _ := unstructured.NestedSlice(u.Object, "results")
	var out []map[string]any
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return u, out, nil
}

// caFailure is the expired client CA finding, as both formats must carry it
// through the API server (the OpenReports CRD's schema prunes what it does
// not define).
func caFailure(results []map[string]any) error {
	for _, r := range results {
		if r["rule"] == "gateway-mtls-ca" && r["result"] == "fail" && r["severity"] == "high" && r["category"] == "gateway" &&
			r["source"] == audit.Source && strings.Contains(fmt.Sprint(r["message"]), "expired") {
			return nil
		}
	}
	return fmt.Errorf("no gateway-mtls-ca fail/high/gateway result among %v", results)
}

func gone(gvk schema.GroupVersionKind, ns string) error {
	_, _, err := reportResults(gvk, ns)
	if apierrors.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "no matches for kind")) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("gatewarden's %s in %s is still there", gvk.Kind, ns)
}

// The audit writes PolicyReports while only their CRD is served, switches to
// OpenReports (and removes its PolicyReports) once the OpenReports CRD is
// installed, and goes back when it is removed, without a restart.
func TestReportsFollowServedCRDs(t *testing.T) {
	requireLocal(t)
	s := newMTLSSetup(t)
	s.setExpired(t, true)

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 cluster.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	rv := &review.Reviewer{Config: config.Default(), Cluster: cluster.FromReader(mgr.GetCache()), Trust: trust.Offline{}}
	if err := audit.Add(mgr, rv, audit.Options{Interval: 2 * time.Second, Debounce: 300 * time.Millisecond, Namespace: s.ns}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})

	waitFor(t, 60*time.Second, "the finding in a PolicyReport (only that CRD served)", func() error {
		_, res, err := reportResults(audit.PolicyReportGVK, s.ns)
		if err != nil {
			return err
		}
		return caFailure(res)
	})
	if err := gone(audit.OpenReportGVK, s.ns); err != nil {
		t.Fatal(err)
	}

	setOpenReportsCRDs(t, true)
	t.Cleanup(func() { setOpenReportsCRDs(t, false) })
	waitFor(t, 60*time.Second, "the finding in an OpenReports Report once that CRD is served", func() error {
		rep, res, err := reportResults(audit.OpenReportGVK, s.ns)
		if err != nil {
			return err
		}
		if src, _, _ := unstructured.NestedString(rep.Object, "source"); src != audit.Source {
			return fmt.Errorf("report source %q", src)
		}
		if n, _, _ := unstructured.NestedInt64(rep.Object, "configuration", "limits", "maxResults"); n != audit.DefaultMaxResults {
			return fmt.Errorf("configuration.limits.maxResults %d", n)
		}
		return caFailure(res)
	})
	waitFor(t, 60*time.Second, "gatewarden's PolicyReport removed", func() error { return gone(audit.PolicyReportGVK, s.ns) })

	setOpenReportsCRDs(t, false)
	waitFor(t, 60*time.Second, "the PolicyReport back after the OpenReports CRD is removed", func() error {
		_, res, err := reportResults(audit.PolicyReportGVK, s.ns)
		if err != nil {
			return err
		}
		return caFailure(res)
	})
}

// The serve flags reach the audit: --reports=both writes both formats, and
// --audit-max-report-results caps the results while the summary counts all.
func TestServeReportsBothCapped(t *testing.T) {
	requireLocal(t)
	ctx := context.Background()
	setOpenReportsCRDs(t, true)
	t.Cleanup(func() { setOpenReportsCRDs(t, false) })
	if err := env.RestartWith(ctx, "--audit-interval", "2s", "--reports", "both", "--audit-max-report-results", "1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.RestartWith(ctx); err != nil {
			t.Errorf("restoring gatewarden: %v", err)
		}
	})
	s := newMTLSSetup(t)
	s.setExpired(t, true)
	// A second finding in the namespace: an AuthorizationPolicy allowing all.
	c, _ := newClient(t)
	ap := obj(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-all}
spec: {action: ALLOW, rules: [{}]}
`)
	ap.SetNamespace(s.ns)
	if err := eventually(func() error { return c.Create(ctx, ap) }); err != nil {
		t.Fatal(err)
	}

	for _, gvk := range []schema.GroupVersionKind{audit.OpenReportGVK, audit.PolicyReportGVK} {
		waitFor(t, 60*time.Second, gvk.Kind+" capped at one result, the denial kept", func() error {
			rep, res, err := reportResults(gvk, s.ns)
			if err != nil {
				return err
			}
			if len(res) != 1 {
				return fmt.Errorf("%d results", len(res))
			}
			if err := caFailure(res); err != nil {
				return err
			}
			warn, _, _ := unstructured.NestedInt64(rep.Object, "summary", "warn")
			fail, _, _ := unstructured.NestedInt64(rep.Object, "summary", "fail")
			if fail != 1 || warn < 1 {
				return fmt.Errorf("summary fail %d warn %d: want every finding counted", fail, warn)
			}
			if got := rep.GetAnnotations()[audit.DroppedAnnotation]; got != strconv.FormatInt(fail+warn-1, 10) {
				return fmt.Errorf("annotation %s = %q", audit.DroppedAnnotation, got)
			}
			return nil
		})
	}
}

// servedLeaf is the certificate the webhook presents now.
func servedLeaf(t *testing.T) *x509.Certificate {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.PKI.CAPEM)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(env.WebhookURL, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// metricValue reads one unlabelled sample from gatewarden's /metrics.
func metricValue(name string) (float64, error) {
	resp, err := http.Get(env.MetricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no sample of %s on %s", name, env.MetricsURL)
}

// The expiry metric is the certificate actually served, and follows a
// rotation of the files without a restart.
func TestServingCertificateExpiryMetric(t *testing.T) {
	requireLocal(t)
	leaf := servedLeaf(t)
	v, err := metricValue(selfcert.ExpiryMetric)
	if err != nil {
		t.Fatal(err)
	}
	if int64(v) != leaf.NotAfter.Unix() {
		t.Fatalf("%s = %v, want the served certificate's expiry %d (%s)", selfcert.ExpiryMetric, v, leaf.NotAfter.Unix(), leaf.NotAfter)
	}

	// The rotated certificate must expire at another second to be told apart.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	serial, err := env.PKI.RotateServing()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the rotated certificate served", func() error {
		if got := servedLeaf(t); got.SerialNumber.Cmp(serial) != 0 {
			return fmt.Errorf("serial %v", got.SerialNumber)
		}
		return nil
	})
	rotated := servedLeaf(t)
	if rotated.NotAfter.Equal(leaf.NotAfter) {
		t.Fatalf("the rotated certificate expires at the same time as the first (%s)", leaf.NotAfter)
	}
	waitFor(t, 30*time.Second, "the metric following the rotation", func() error {
		v, err := metricValue(selfcert.ExpiryMetric)
		if err != nil {
			return err
		}
		if int64(v) != rotated.NotAfter.Unix() {
			return fmt.Errorf("%v, want %d", v, rotated.NotAfter.Unix())
		}
		return nil
	})
}
