package main

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// commonFlags are shared by serve and check, so a fetch behaves the same
// offline as in the cluster.
type commonFlags struct {
	configFile   string
	allowCIDRs   []string
	caFile       string
	fetchTimeout time.Duration
	fetchMax     int64
	cacheSize    int
	cacheBytes   int64
	positiveTTL  time.Duration
	negativeTTL  time.Duration
	staleFor     time.Duration
	meshNS       string
}

func (f *commonFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "configuration file (checks, actions, exemptions, settings)")
	fs.StringArrayVar(&f.allowCIDRs, "allow-cidr", nil, "address range issuers may resolve to although private or loopback (repeatable), e.g. 10.0.0.0/8 for an in-cluster IdP")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM bundle trusted for issuer and JWKS fetches, besides the system roots")
	fs.DurationVar(&f.fetchTimeout, "fetch-timeout", 2*time.Second, "timeout of one issuer or JWKS request")
	fs.Int64Var(&f.fetchMax, "fetch-max-bytes", 512<<10, "largest discovery or JWKS document accepted")
	fs.IntVar(&f.cacheSize, "trust-cache-size", trust.DefaultCacheSize, "issuer documents kept in memory")
	f.cacheBytes = trust.DefaultCacheMaxBytes
	fs.Var(byteQuantity{&f.cacheBytes}, "trust-cache-max-bytes", "estimated bytes of parsed issuer documents kept in memory, e.g. 32Mi (cached failures get a quarter more); keep well under the memory limit")
	fs.DurationVar(&f.positiveTTL, "trust-ttl", 5*time.Minute, "how long a good discovery or JWKS answer is reused")
	fs.DurationVar(&f.negativeTTL, "trust-negative-ttl", 30*time.Second, "how long a failed fetch is remembered")
	fs.DurationVar(&f.staleFor, "trust-stale-for", time.Hour, "how long the last good answer is served, with a warning, while refreshes fail")
	fs.StringVar(&f.meshNS, "mesh-config-namespace", cluster.MeshConfigMap.Namespace, "namespace of istiod's mesh ConfigMap `istio` (also the default mesh root namespace)")
}

// meshConfigMap is the mesh ConfigMap the checks read.
func (f *commonFlags) meshConfigMap() client.ObjectKey {
	return client.ObjectKey{Namespace: f.meshNS, Name: cluster.MeshConfigMap.Name}
}

// state is s reading the mesh ConfigMap the flags name.
func (f *commonFlags) state(s cluster.State) cluster.State {
	return cluster.WithMeshConfigMap(s, f.meshConfigMap())
}

func (f *commonFlags) loadConfig() (*config.Config, error) {
	if f.configFile == "" {
		return config.Default(), nil
	}
	cfg, err := config.Load(f.configFile)
	if err != nil {
		return nil, err
	}
	// stderr: check's stdout is its report, and serve logs there too.
	for _, w := range cfg.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	return cfg, nil
}

func (f *commonFlags) trustOptions(cfg *config.Config) (trust.Options, error) {
	opts := trust.Options{
		CAFile:         f.caFile,
		Timeout:        f.fetchTimeout,
		MaxBodyBytes:   f.fetchMax,
		CacheSize:      f.cacheSize,
		CacheMaxBytes:  f.cacheBytes,
		PositiveTTL:    f.positiveTTL,
		NegativeTTL:    f.negativeTTL,
		StaleFor:       f.staleFor,
		AllowHTTPHosts: cfg.Settings.AllowHTTPHosts,
		UserAgent:      "gatewarden/" + version,
	}
	for _, c := range f.allowCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return opts, fmt.Errorf("--allow-cidr %q: %w", c, err)
		}
		opts.AllowCIDRs = append(opts.AllowCIDRs, p.Masked())
	}
	return opts, nil
}

// byteQuantity is a flag holding a byte count written as a Kubernetes
// quantity (33554432, 32Mi, 64M), as the chart's values and resource limits
// are.
type byteQuantity struct{ v *int64 }

func (q byteQuantity) String() string {
	if q.v == nil {
		return ""
	}
	return resource.NewQuantity(*q.v, resource.BinarySI).String()
}

func (q byteQuantity) Set(s string) error {
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("want a byte count such as 33554432 or 32Mi: %v", err)
	}
	if v.Sign() <= 0 {
		return fmt.Errorf("want a positive byte count, got %s", s)
	}
	*q.v = v.Value()
	return nil
}

func (byteQuantity) Type() string { return "bytes" }
