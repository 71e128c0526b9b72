package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/gatewarden/gatewarden/audit"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/gcpace"
	"github.com/gatewarden/gatewarden/internal/selfcert"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
	"github.com/gatewarden/gatewarden/webhook"
)

type serveFlags struct {
	commonFlags
	kubeconfig       string
	host             string
	port             int
	certDir          string
	certName         string
	keyName          string
	metricsAddr      string
	probeAddr        string
	pprofAddr        string
	enableHTTP2      bool
	secretNamespaces []string
	budget           time.Duration
	objectFetches    int
	objectFetchConc  int
	shutdownDelay    time.Duration
	gcHeapShare      float64

	auditInterval           time.Duration
	auditDebounce           time.Duration
	auditWorkers            int
	auditCPU                int
	auditTimeout            time.Duration
	auditFetchRate          float64
	reports                 string
	reportMaxResults        int
	leaderElect             bool
	leaderElectionNamespace string

	selfManagedCerts            bool
	certSecret                  string
	serviceName                 string
	validatingWebhookConfigName string
	mutatingWebhookConfigName   string
}

func newServeCmd() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the validating and mutating admission webhook",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return serve(f) },
	}
	fs := cmd.Flags()
	f.commonFlags.add(fs)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or in-cluster)")
	fs.StringVar(&f.host, "host", "", "address the webhook listens on (default all)")
	fs.IntVar(&f.port, "port", 9443, "webhook HTTPS port")
	fs.StringVar(&f.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with the serving certificate and key; rotated files are picked up without restart")
	fs.StringVar(&f.certName, "cert-name", "tls.crt", "serving certificate file name in --cert-dir")
	fs.StringVar(&f.keyName, "key-name", "tls.key", "serving key file name in --cert-dir")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "Prometheus metrics address (0 disables)")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "address of Go's /debug/pprof profiles (0 disables; keep it on loopback)")
	fs.BoolVar(&f.enableHTTP2, "enable-http2", false, "serve HTTP/2 (off by default: HTTP/2 rapid reset, CVE-2023-44487)")
	fs.StringSliceVar(&f.secretNamespaces, "secret-namespaces", []string{"istio-system"}, "namespaces whose Secrets and ConfigMaps gateway checks may read (the gateway workloads' namespaces)")
	fs.DurationVar(&f.budget, "admission-budget", 3*time.Second, "time one admission may take, fetches included; keep below the webhook timeoutSeconds")
	fs.IntVar(&f.objectFetches, "object-fetches", trust.DefaultObjectFetches, "issuer and JWKS fetches one admission may start (cache hits are free); later URLs are reported as not checked (0: no bound)")
	fs.IntVar(&f.objectFetchConc, "object-fetch-concurrency", trust.DefaultObjectFetchConcurrency, "fetches one admission may have in flight at once (0: no bound)")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 5*time.Second, "after SIGTERM, keep serving this long (reporting not ready) so in-flight and late-routed admissions finish")
	fs.Float64Var(&f.gcHeapShare, "gc-heap-share", 0.25, "let the heap grow between garbage collections up to this share of GOMEMLIMIT while what is live is small against it (GOGC 100 to 300, chosen after each collection); 0, no GOMEMLIMIT or an explicit GOGC: Go's own pacing")
	fs.DurationVar(&f.auditInterval, "audit-interval", 10*time.Minute, "re-check stored objects this often, and soon after what they depend on changes (0 disables the audit)")
	fs.DurationVar(&f.auditDebounce, "audit-debounce", 10*time.Second, "after a change of what stored objects depend on, wait this long for more changes before re-checking the objects that depend on them")
	fs.IntVar(&f.auditWorkers, "audit-workers", 4, "objects the audit checks at once")
	fs.IntVar(&f.auditCPU, "audit-cpu", 0, "of those, how many run their checks at once while the others wait for fetches (0: one fewer than GOMAXPROCS, at least 1, so that a P stays free for admissions)")
	fs.DurationVar(&f.auditTimeout, "audit-timeout", 30*time.Second, "time the audit gives one object's checks")
	fs.Float64Var(&f.auditFetchRate, "audit-fetch-rate", audit.DefaultFetchRate, "issuer and JWKS fetches per second the audit may make when the trust cache misses (negative: unpaced); admissions are never paced")
	fs.StringVar(&f.reports, "reports", string(audit.ReportsAuto), "audit report formats: auto (OpenReports when served, else PolicyReports), openreports, policyreports, both or none")
	fs.IntVar(&f.reportMaxResults, "audit-max-report-results", audit.DefaultMaxResults, "results per namespace report, the most severe kept (the summary counts all); negative: no cap")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "elect one replica to run the audit (set with more than one replica)")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace; required outside a cluster)")
	fs.BoolVar(&f.selfManagedCerts, "self-managed-certs", false, "issue and rotate the serving certificate in --cert-secret and put its CA into the webhook configurations (no cert-manager)")
	fs.StringVar(&f.certSecret, "cert-secret", "", "NAMESPACE/NAME of the Secret holding the self-managed CA and serving certificate")
	fs.StringVar(&f.serviceName, "service-name", "gatewarden", "Service the API server calls; the certificate names <service>.<namespace>.svc")
	fs.StringVar(&f.validatingWebhookConfigName, "validating-webhook-config-name", "gatewarden", "ValidatingWebhookConfiguration that gets the CA")
	fs.StringVar(&f.mutatingWebhookConfigName, "mutating-webhook-config-name", "gatewarden", "MutatingWebhookConfiguration that gets the CA; empty: none")
	return cmd
}

// paceCollector starts gcpace unless the operator chose GOGC or no limit
// gives it a target.
func (f *serveFlags) paceCollector(log logr.Logger) *gcpace.Pacer {
	if f.gcHeapShare == 0 {
		return nil
	}
	if v, set := os.LookupEnv("GOGC"); set {
		log.Info("GOGC is set; the garbage collector paces by it", "GOGC", v)
		return nil
	}
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		log.Info("GOMEMLIMIT is not set; the garbage collector paces by Go's default GOGC")
		return nil
	}
	p := gcpace.Start(uint64(float64(limit) * f.gcHeapShare))
	log.Info("garbage collector paced", "heapTarget", p.Target(), "GOMEMLIMIT", limit, "minGOGC", gcpace.MinPercent, "maxGOGC", gcpace.MaxPercent)
	return p
}

func restConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return ctrl.GetConfig()
}

// configMapNamespaces are where the cache holds ConfigMaps: every one in the
// gateway namespaces, where a gateway's client CA may be named
// configmap://namespace/name, and only the mesh ConfigMap in its namespace
// otherwise.
func (f *serveFlags) configMapNamespaces() map[string]cache.Config {
	out := map[string]cache.Config{}
	for _, ns := range f.secretNamespaces {
		out[ns] = cache.Config{}
	}
	mesh := f.meshConfigMap()
	if _, all := out[mesh.Namespace]; !all {
		out[mesh.Namespace] = cache.Config{FieldSelector: fields.OneTermEqualSelector("metadata.name", mesh.Name)}
	}
	return out
}

// watched are the objects the checks read; their informers start before the
// webhook reports ready so the first admission does not wait for a sync.
func watched() []client.Object {
	pods := &metav1.PartialObjectMetadata{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	gardener := &unstructured.Unstructured{}
	gardener.SetGroupVersionKind(cluster.GardenerCertificate)
	kymaIstio := &unstructured.Unstructured{}
	kymaIstio.SetGroupVersionKind(cluster.KymaIstio)
	externalGateway := &unstructured.Unstructured{}
	externalGateway.SetGroupVersionKind(cluster.KymaExternalGateway)
	objs := []client.Object{
		&networkingv1.VirtualService{}, &corev1.Service{}, &corev1.Namespace{}, &corev1.Secret{}, &corev1.ConfigMap{}, pods,
		&certmanagerv1.Certificate{}, gardener, kymaIstio, externalGateway,
	}
	for _, k := range review.Kinds {
		objs = append(objs, k.Cached())
	}
	return objs
}

func serve(f *serveFlags) error {
	ctrl.SetLogger(zap.New())
	log := ctrl.Log.WithName("gatewarden")
	if f.gcHeapShare < 0 || f.gcHeapShare >= 1 {
		return fmt.Errorf("--gc-heap-share %g: want at least 0 and less than 1", f.gcHeapShare)
	}
	if p := f.paceCollector(log); p != nil {
		defer p.Stop()
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	opts, err := f.trustOptions(cfg)
	if err != nil {
		return err
	}
	resolver, err := newResolver(opts)
	if err != nil {
		return err
	}
	restCfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}

	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if !f.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	reportMode, err := audit.ParseReportMode(f.reports)
	if err != nil {
		return fmt.Errorf("--%w", err)
	}
	serving := &selfcert.ServingCert{CertPath: filepath.Join(f.certDir, f.certName), KeyPath: filepath.Join(f.certDir, f.keyName)}
	secretNS := secretCacheNamespaces(f.secretNamespaces)
	configMapNS := f.configMapNamespaces()
	shutdownTimeout := f.shutdownDelay + 10*time.Second
	webhooks := http.NewServeMux()
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        cluster.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: f.metricsAddr, TLSOpts: tlsOpts},
		HealthProbeBindAddress:        f.probeAddr,
		GracefulShutdownTimeout:       &shutdownTimeout,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              "gatewarden-audit",
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: f.host, Port: f.port, CertDir: f.certDir, CertName: f.certName, KeyName: f.keyName,
			TLSOpts:    append(slices.Clone(tlsOpts), serving.TLSConfig),
			WebhookMux: webhooks,
		}),
		// Secrets only where gateways read them, and not istiod's own
		// (secretCacheNamespaces): least privilege, and nothing else's
		// credentials in memory. ConfigMaps likewise (configMapNamespaces).
		Cache:            cluster.CacheOptions(cluster.CacheScope{Secrets: secretNS, ConfigMaps: configMapNS}),
		MapperProvider:   cluster.NewMapper,
		PprofBindAddress: f.pprofAddr,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	if f.selfManagedCerts {
		ns, name, ok := strings.Cut(f.certSecret, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--cert-secret: want NAMESPACE/NAME, got %q", f.certSecret)
		}
		if err := selfcert.Add(mgr, selfcert.Options{Namespace: ns, SecretName: name, ServiceName: f.serviceName,
			ValidatingWebhook: f.validatingWebhookConfigName, MutatingWebhook: f.mutatingWebhookConfigName,
			CertDir: f.certDir, CertName: f.certName, KeyName: f.keyName}); err != nil {
			return err
		}
	}

	if err := serving.Add(mgr); err != nil {
		return err
	}

	indexes := cluster.Indexes()
	if f.auditInterval > 0 {
		// The audit's runs on changes find what depends on a change here.
		indexes = append(indexes, audit.Indexes()...)
	}
	skipped, err := cluster.AddIndexes(context.Background(), mgr.GetCache(), indexes...)
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		log.Info("kinds not installed; their lookups list instead of using an index", "indexes", skipped)
	}
	// The cache keeps APIRules as apirule.Stored, which its client.Reader
	// cannot hand out: the audit reads them from their store.
	reader := cluster.NewStoreReader(cluster.GateAbsentKinds(mgr.GetCache(), cluster.Scheme, cluster.AbsentKindTTL), mgr.GetCache())
	rv := &review.Reviewer{Config: cfg, Cluster: f.state(cluster.FromCache(mgr.GetCache())), Trust: resolver}
	// The audit yields to admissions in flight (audit.Options.Busy).
	inflight := &webhook.Inflight{}
	if f.auditInterval > 0 {
		if err := audit.Add(mgr, rv, audit.Options{Interval: f.auditInterval, Debounce: f.auditDebounce, Workers: f.auditWorkers, CPU: f.auditCPU, Timeout: f.auditTimeout, FetchRate: f.auditFetchRate, Reader: reader,
			Reports: reportMode, MaxResults: f.reportMaxResults, Busy: inflight.Busy}); err != nil {
			return err
		}
	}
	srv := mgr.GetWebhookServer()
	// On the server's mux directly: Register would wrap each handler in
	// controller-runtime's request metrics, which repeat what
	// gatewarden_admission_duration_seconds and _decisions_total count, at
	// a few label maps per request.
	var synced, stopping atomic.Bool
	webhooks.Handle(webhook.ValidatePath, closeWhenStopping(&stopping, &webhook.Handler{Reviewer: rv, Budget: f.budget, Context: f.fetchBudget, Inflight: inflight}))
	webhooks.Handle(webhook.MutatePath, closeWhenStopping(&stopping, &webhook.Handler{Reviewer: rv, Mutate: true, Budget: f.budget, Context: f.fetchBudget, Inflight: inflight}))

	if err := mgr.Add(warmUp(mgr.GetCache(), &synced)); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", func(*http.Request) error { return nil }); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("cache", func(*http.Request) error {
		switch {
		case stopping.Load():
			return errors.New("shutting down")
		case !synced.Load():
			return errors.New("cache not synced")
		}
		return nil
	}); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		// Report not ready first so endpoints drop this pod, and keep
		// answering what is still routed here; then stop gracefully.
		stopping.Store(true)
		log.Info("shutting down", "delay", f.shutdownDelay)
		select {
		case <-time.After(f.shutdownDelay):
		case <-sigs:
		}
		cancel()
	}()
	log.Info("starting", "version", version, "port", f.port, "certDir", f.certDir)
	return mgr.Start(ctx)
}

// warmUp starts an informer for every watched kind that exists in the
// cluster and marks the webhook ready once they have synced.
func warmUp(c cache.Cache, synced *atomic.Bool) ctrlRunnable {
	return func(ctx context.Context) error {
		log := ctrl.Log.WithName("cache")
		for _, obj := range watched() {
			if _, err := c.GetInformer(ctx, obj); err != nil {
				if meta.IsNoMatchError(err) {
					log.Info("kind not installed; checks that read it see none", "kind", obj.GetObjectKind().GroupVersionKind().Kind, "type", fmt.Sprintf("%T", obj))
					continue
				}
				return err
			}
		}
		if !c.WaitForCacheSync(ctx) {
			return errors.New("cache did not sync")
		}
		synced.Store(true)
		log.Info("synced")
		<-ctx.Done()
		return nil
	}
}

type ctrlRunnable func(context.Context) error

func (r ctrlRunnable) Start(ctx context.Context) error { return r(ctx) }

// NeedLeaderElection is false: every replica serves admissions and must warm
// its own cache, leader or not.
func (r ctrlRunnable) NeedLeaderElection() bool { return false }

// closeWhenStopping answers with Connection: close once shutdown has begun.
// The API server keeps connections to webhooks alive and does not retry a
// POST, so a request it sends on an idle connection just as the server
// closes that connection at the end of the shutdown delay fails the
// admission (with failurePolicy Fail, the user's write). Closing each
// connection after its answer during the delay leaves none idle by then,
// and the API server opens new ones to the pods still serving.
func closeWhenStopping(stopping *atomic.Bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// fetchBudget gives every admission its own fetch budget: an object naming
// a thousand issuers gets its first --object-fetches fetched and the rest
// reported as not checked, instead of a burst of requests to hosts its
// author chose.
func (f *serveFlags) fetchBudget(ctx context.Context) context.Context {
	return trust.WithFetchBudget(ctx, f.objectFetches, f.objectFetchConc)
}

// istiodCASecrets are the Secrets istiod keeps its signing CA in: the
// self-signed CA it creates (istio-ca-secret) and a plugged-in CA (cacerts),
// both in its own namespace, which is usually a gateway namespace too. No
// check reads them, so the cache never holds them: the mesh's root signing
// key does not sit in gatewarden's memory.
var istiodCASecrets = []string{"istio-ca-secret", "cacerts"}

// multiClusterSecretLabel marks istiod's remote secrets (kubeconfigs of
// other clusters); no check reads them either.
const multiClusterSecretLabel = "istio/multiCluster"

// secretCacheNamespaces is the Secret cache's scope: the gateway namespaces,
// without istiod's CA secrets and remote-cluster secrets. The selectors go to
// the API server with the list and watch, so those Secrets are never sent.
func secretCacheNamespaces(namespaces []string) map[string]cache.Config {
	var notCA []fields.Selector
	for _, name := range istiodCASecrets {
		notCA = append(notCA, fields.OneTermNotEqualSelector("metadata.name", name))
	}
	notRemote, err := labels.NewRequirement(multiClusterSecretLabel, selection.NotEquals, []string{"true"})
	if err != nil {
		panic(err) // a constant requirement
	}
	out := map[string]cache.Config{}
	for _, ns := range namespaces {
		out[ns] = cache.Config{FieldSelector: fields.AndSelectors(notCA...), LabelSelector: labels.NewSelector().Add(*notRemote)}
	}
	return out
}
