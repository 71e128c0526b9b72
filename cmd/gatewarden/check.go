package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/audit"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/manifest"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

type checkFlags struct {
	commonFlags
	files         []string
	output        string
	noNetwork     bool
	kubeconfig    string
	kubeContext   string
	namespace     string
	allNamespaces bool
}

func newCheckCmd(stdin io.Reader) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check (-f FILE... | --kubeconfig FILE [-n NS | -A] [-f FILE...])",
		Short: "Run the defaults and checks over manifest files, or over the objects stored in a cluster",
		Long: `check runs the same mutators and validators as the webhook.

Offline (-f without --kubeconfig): objects of the checked kinds (APIRule, Gateway, RequestAuthentication,
AuthorizationPolicy) in the files are checked; every object in the input, checked or not (Secrets, Services,
Namespaces, Certificates, ConfigMaps...), forms the cluster state cross-object checks see. Objects without a
namespace are in -n, or "default".

Live (--kubeconfig): without -f, the checked kinds stored in the cluster are checked as they are, as the audit
does (APIRules read as v2, the Istio kinds as v1), in -n, in every namespace with -A, or else in the kubeconfig
context's namespace ("default" if it names none). With -f, the objects of the files are checked as a create would
be, and the cluster provides the state (other objects in the files are not added to it).

Exit status: 0 all allowed, 1 some denied, 2 unusable input, flags or cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), f, stdin, cmd.OutOrStdout())
		},
	}
	f.commonFlags.add(cmd.Flags())
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "file, directory (recursive) or - for stdin (repeatable)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text, json, junit (JUnit XML) or sarif (SARIF 2.1.0)")
	cmd.Flags().BoolVar(&f.noNetwork, "no-network", false, "skip the checks that fetch from issuers (each skip is a warning)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "check against this cluster: its stored objects, or -f files with the cluster as state")
	cmd.Flags().StringVar(&f.kubeContext, "context", "", "kubeconfig context (default: the current context)")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace to check, and of -f objects that name none")
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "check the stored objects of every namespace (with --kubeconfig)")
	return cmd
}

// liveCheckTimeout bounds the checks of one stored object.
const liveCheckTimeout = 30 * time.Second

// CheckResult is one object's verdict in `check -o json`.
type CheckResult struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Namespace  string                         `json:"namespace"`
	Name       string                         `json:"name"`
	Allowed    bool                           `json:"allowed"`
	Violations []core.Finding                 `json:"violations"`
	Warnings   []core.Finding                 `json:"warnings"`
	Patch      []jsonpatch.JsonPatchOperation `json:"patch"`
	// Source is the file:line the object was read from (none for stored
	// objects); the CI formats point at it.
	Source string `json:"-"`
}

func (f *checkFlags) validate() error {
	switch {
	case len(f.files) == 0 && f.kubeconfig == "":
		return fmt.Errorf("no input: give -f FILE, -f DIR or -f -, or --kubeconfig FILE to check a cluster's objects")
	case !slices.Contains(outputFormats, f.output):
		return fmt.Errorf("--output %q: want one of %s", f.output, strings.Join(outputFormats, ", "))
	case f.kubeContext != "" && f.kubeconfig == "":
		return fmt.Errorf("--context needs --kubeconfig")
	case f.allNamespaces && f.kubeconfig == "":
		return fmt.Errorf("--all-namespaces needs --kubeconfig")
	case f.allNamespaces && len(f.files) > 0:
		return fmt.Errorf("--all-namespaces checks a cluster's stored objects; it cannot be combined with -f")
	case f.allNamespaces && f.namespace != "":
		return fmt.Errorf("give --namespace or --all-namespaces, not both")
	}
	return nil
}

func runCheck(ctx context.Context, f *checkFlags, stdin io.Reader, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := f.validate(); err != nil {
		return err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	var resolver trust.Resolver = trust.Offline{}
	if !f.noNetwork {
		opts, err := f.trustOptions(cfg)
		if err != nil {
			return err
		}
		if resolver, err = newResolver(opts); err != nil {
			return err
		}
	}
	var objs []manifest.Object
	if len(f.files) > 0 {
		if objs, err = manifest.Read(f.files, stdin); err != nil {
			return err
		}
	}
	var results []CheckResult
	if f.kubeconfig == "" {
		ns := f.namespace
		if ns == "" {
			ns = "default"
		}
		results, err = checkObjects(ctx, cfg, resolver, objs, ns, f.meshConfigMap())
	} else {
		results, err = checkLive(ctx, f, cfg, resolver, objs)
	}
	if err != nil {
		return err
	}
	if err := writeResults(out, f.output, results, time.Now()); err != nil {
		return err
	}
	for _, r := range results {
		if !r.Allowed {
			return exitError{code: 1}
		}
	}
	return nil
}

// liveClient connects to the cluster of a kubeconfig and says which
// namespace its context names ("default" when none).
func liveClient(path, kubeContext string) (client.Client, string, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("--kubeconfig %s: %w", path, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("--kubeconfig %s: %w", path, err)
	}
	if ns == "" {
		ns = "default"
	}
	rc.Timeout = liveCheckTimeout
	c, err := client.New(rc, client.Options{Scheme: cluster.Scheme})
	if err != nil {
		return nil, "", fmt.Errorf("--kubeconfig %s: %w", path, err)
	}
	return c, ns, nil
}

// checkLive checks against a cluster: the files' objects when given, else
// the objects stored there, as the audit sees them.
func checkLive(ctx context.Context, f *checkFlags, cfg *config.Config, resolver trust.Resolver, objs []manifest.Object) ([]CheckResult, error) {
	c, ns, err := liveClient(f.kubeconfig, f.kubeContext)
	if err != nil {
		return nil, err
	}
	if f.namespace != "" {
		ns = f.namespace
	}
	rv := &review.Reviewer{Config: cfg, Cluster: f.state(cluster.FromReader(c)), Trust: resolver}
	if len(f.files) > 0 {
		return reviewFiles(ctx, rv, objs, ns), nil
	}
	if f.allNamespaces {
		ns = ""
	}
	targets, err := audit.List(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	results := []CheckResult{}
	for _, o := range audit.Check(ctx, rv, targets, 4, liveCheckTimeout) {
		t := o.Target
		results = append(results, CheckResult{
			APIVersion: t.GVK.GroupVersion().String(), Kind: t.GVK.Kind, Namespace: t.Object.GetNamespace(), Name: t.Object.GetName(),
			Allowed: o.Result.Allowed, Violations: nonNil(o.Result.Violations), Warnings: nonNil(o.Result.Warnings),
			Patch: nonNilPatch(o.Result.Patch),
		})
	}
	return results, nil
}

// checkObjects checks files offline: their objects are also the state.
func checkObjects(ctx context.Context, cfg *config.Config, resolver trust.Resolver, objs []manifest.Object, defaultNS string, mesh client.ObjectKey) ([]CheckResult, error) {
	var state []runtime.Object
	for _, o := range objs {
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" {
			o.SetNamespace(defaultNS)
		}
		typed, err := toStateObject(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %q: %v", o.Source, o.GetKind(), o.GetName(), err)
		}
		if typed != nil {
			state = append(state, typed)
		}
	}
	st, err := cluster.FromObjects(state...)
	if err != nil {
		return nil, err
	}
	rv := &review.Reviewer{Config: cfg, Cluster: cluster.WithMeshConfigMap(st, mesh), Trust: resolver}
	return reviewFiles(ctx, rv, objs, defaultNS), nil
}

// reviewFiles checks the objects of the checked kinds as the API server
// would on create: defaults, then checks.
func reviewFiles(ctx context.Context, rv *review.Reviewer, objs []manifest.Object, defaultNS string) []CheckResult {
	results := []CheckResult{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if _, ok := review.Lookup(gvk.GroupKind()); !ok {
			continue
		}
		ns := o.GetNamespace()
		if ns == "" {
			ns = defaultNS
		}
		octx := trust.WithFetchBudget(ctx, trust.DefaultObjectFetches, trust.DefaultObjectFetchConcurrency) // each object its own, as in serve
		res := rv.Review(octx, &review.Request{GVK: gvk, Namespace: ns, Name: o.GetName(), Operation: "CREATE", Object: o.Raw})
		results = append(results, CheckResult{
			APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: ns, Name: o.GetName(),
			Allowed: res.Allowed, Violations: nonNil(res.Violations), Warnings: nonNil(res.Warnings),
			Patch: nonNilPatch(res.Patch), Source: o.Source,
		})
	}
	return results
}

// toStateObject turns a read object into what the in-memory cluster holds:
// the Go type when gatewarden has one, unstructured for the kinds it reads
// that way, nothing for kinds no check looks at.
func toStateObject(o manifest.Object) (runtime.Object, error) {
	gvk := o.GroupVersionKind()
	if !cluster.Scheme.Recognizes(gvk) {
		return nil, nil
	}
	typed, err := cluster.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	if _, isU := typed.(runtime.Unstructured); isU {
		return o.Unstructured, nil
	}
	raw, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, typed); err != nil {
		return nil, err
	}
	if s, ok := typed.(*corev1.Secret); ok {
		mergeStringData(s)
	}
	typed.GetObjectKind().SetGroupVersionKind(gvk)
	return typed, nil
}

func nonNil(fs []core.Finding) []core.Finding {
	if fs == nil {
		return []core.Finding{}
	}
	return fs
}

func nonNilPatch(p []jsonpatch.JsonPatchOperation) []jsonpatch.JsonPatchOperation {
	if p == nil {
		return []jsonpatch.JsonPatchOperation{}
	}
	return p
}

func printText(w io.Writer, results []CheckResult) {
	for _, r := range results {
		ref := fmt.Sprintf("%s/%s", strings.ToLower(r.Kind), r.Name)
		if g := groupOf(r.APIVersion); g != "" {
			ref = fmt.Sprintf("%s.%s/%s", strings.ToLower(r.Kind), g, r.Name)
		}
		verdict := "allowed"
		if !r.Allowed {
			verdict = "denied"
		}
		fmt.Fprintf(w, "%s (namespace %s, %s): %s\n", ref, r.Namespace, r.APIVersion, verdict)
		for _, v := range r.Violations {
			fmt.Fprintf(w, "  error: %s\n", v)
		}
		for _, v := range r.Warnings {
			fmt.Fprintf(w, "  Warning: %s\n", v)
		}
		for _, p := range r.Patch {
			val, _ := json.Marshal(p.Value)
			fmt.Fprintf(w, "  default: %s %s %s\n", p.Operation, p.Path, val)
		}
	}
}

func groupOf(apiVersion string) string {
	if g, _, ok := strings.Cut(apiVersion, "/"); ok {
		return g
	}
	return ""
}

// mergeStringData does what the API server does on write: stringData is
// written into data, winning over a data key of the same name. Manifests
// often carry PEM in stringData; the checks read data.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		return
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}
