package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/config"
	"github.com/gatewarden/gatewarden/internal/manifest"
	"github.com/gatewarden/gatewarden/internal/object"
	"github.com/gatewarden/gatewarden/internal/review"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/validators"
)

type checkFlags struct {
	commonFlags
	files     []string
	output    string
	noNetwork bool
}

func newCheckCmd(stdin io.Reader) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check -f FILE...",
		Short: "Run the defaults and checks over manifest files, without a cluster",
		Long: `check runs the same mutators and validators as the webhook over manifests. Objects of the checked kinds
(APIRule, Gateway, RequestAuthentication, AuthorizationPolicy) are checked; every object in the input, checked or
not (Secrets, Services, Namespaces, Certificates, ConfigMaps...), forms the cluster state cross-object checks see.
Objects without a namespace are in "default". Exit status: 0 all allowed, 1 some denied, 2 unusable input or flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), f, stdin, cmd.OutOrStdout())
		},
	}
	f.commonFlags.add(cmd.Flags())
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "file, directory (recursive) or - for stdin (repeatable)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&f.noNetwork, "no-network", false, "skip the checks that fetch from issuers (each skip is a warning)")
	return cmd
}

// CheckResult is one object's verdict in `check -o json`.
type CheckResult struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Namespace  string                         `json:"namespace"`
	Name       string                         `json:"name"`
	Allowed    bool                           `json:"allowed"`
	Violations []validators.Finding           `json:"violations"`
	Warnings   []validators.Finding           `json:"warnings"`
	Patch      []jsonpatch.JsonPatchOperation `json:"patch"`
}

func runCheck(ctx context.Context, f *checkFlags, stdin io.Reader, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(f.files) == 0 {
		return fmt.Errorf("no input: give -f FILE, -f DIR or -f -")
	}
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: want text or json", f.output)
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
	objs, err := manifest.Read(f.files, stdin)
	if err != nil {
		return err
	}
	results, err := checkObjects(ctx, cfg, resolver, objs)
	if err != nil {
		return err
	}
	if f.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string][]CheckResult{"results": results}); err != nil {
			return err
		}
	} else {
		printText(out, results)
	}
	for _, r := range results {
		if !r.Allowed {
			return exitError{code: 1}
		}
	}
	return nil
}

func checkObjects(ctx context.Context, cfg *config.Config, resolver trust.Resolver, objs []manifest.Object) ([]CheckResult, error) {
	var state []runtime.Object
	for _, o := range objs {
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" {
			o.SetNamespace("default")
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
	rv := &review.Reviewer{Config: cfg, Cluster: st, Trust: resolver}
	results := []CheckResult{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if !object.Handled(gvk.GroupKind()) {
			continue
		}
		res := rv.Review(ctx, &review.Request{GVK: gvk, Namespace: o.GetNamespace(), Name: o.GetName(), Operation: "CREATE", Object: o.Raw})
		results = append(results, CheckResult{
			APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(),
			Allowed: res.Allowed, Violations: nonNil(res.Violations), Warnings: nonNil(res.Warnings),
			Patch: nonNilPatch(res.Patch),
		})
	}
	return results, nil
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
	typed.GetObjectKind().SetGroupVersionKind(gvk)
	return typed, nil
}

func nonNil(fs []validators.Finding) []validators.Finding {
	if fs == nil {
		return []validators.Finding{}
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
