package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/manifest"
	"github.com/gatewarden/gatewarden/internal/migrate"
	"github.com/gatewarden/gatewarden/internal/trust"
	"github.com/gatewarden/gatewarden/review"
)

type migrateFlags struct {
	commonFlags
	files         []string
	output        string
	noNetwork     bool
	kubeconfig    string
	kubeContext   string
	namespace     string
	allNamespaces bool
	authorizer    string
}

func newMigrateCmd(stdin io.Reader) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate (-f FILE... | --kubeconfig FILE [-n NS | -A] [-f FILE...])",
		Short: "Turn APIRules v1beta1 into v2 manifests that keep their behaviour, checked like `check` does",
		Long: `migrate prints gateway.kyma-project.io/v2 APIRules for the v1beta1 APIRules it reads, ready to apply.

It reads v1beta1 objects, objects read as v2 that Kyma converted (their v1beta1 spec is in the annotation
gateway.kyma-project.io/v1beta1-spec), and objects read as v2 that still have v1beta1 fields. Offline (-f), the
other objects of the files are the cluster state; with --kubeconfig the cluster is (without -f, its APIRules in -n,
in every namespace with -A, else in the context's namespace are migrated).

Each result passes the same defaults and checks as ` + "`gatewarden check`" + ` against that state before it is printed. The
report on stderr says per APIRule: migrated; migrated with notes, each naming the field where v2 behaves
differently; or refused, with the reason and the fix. A refused APIRule is not printed. The mapping:
docs/migrate.md.

Exit status: 0 all migrated, 1 some refused, 2 unusable input, flags or cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd.Context(), f, stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.commonFlags.add(cmd.Flags())
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "file, directory (recursive) or - for stdin (repeatable)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "yaml", "yaml or json (a v1 List)")
	cmd.Flags().BoolVar(&f.noNetwork, "no-network", false, "no issuer fetches: Ory jwt configs that lack the issuer or JWKS URL are refused, and the checks skip issuers (each skip is a warning)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "migrate the cluster's APIRules, or -f files with the cluster as state")
	cmd.Flags().StringVar(&f.kubeContext, "context", "", "kubeconfig context (default: the current context)")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace to migrate, and of -f objects that name none")
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "migrate the APIRules of every namespace (with --kubeconfig)")
	cmd.Flags().StringVar(&f.authorizer, "authorizer", "", "the ext_authz authorizer oauth2_introspection rules move to (default: the only one registered)")
	return cmd
}

func (f *migrateFlags) validate() error {
	switch {
	case len(f.files) == 0 && f.kubeconfig == "":
		return fmt.Errorf("no input: give -f FILE, -f DIR or -f -, or --kubeconfig FILE to migrate a cluster's APIRules")
	case f.output != "yaml" && f.output != "json":
		return fmt.Errorf("--output %q: want yaml or json", f.output)
	case f.kubeContext != "" && f.kubeconfig == "":
		return fmt.Errorf("--context needs --kubeconfig")
	case f.allNamespaces && f.kubeconfig == "":
		return fmt.Errorf("--all-namespaces needs --kubeconfig")
	case f.allNamespaces && len(f.files) > 0:
		return fmt.Errorf("--all-namespaces migrates a cluster's stored APIRules; it cannot be combined with -f")
	case f.allNamespaces && f.namespace != "":
		return fmt.Errorf("give --namespace or --all-namespaces, not both")
	}
	return nil
}

// migration is one APIRule's outcome with what the checks said of the result.
type migration struct {
	*migrate.Result
	// problems are refusals as lines: the migration's and the checks'.
	problems []string
	warnings []string
}

func runMigrate(ctx context.Context, f *migrateFlags, stdin io.Reader, out, report io.Writer) error {
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
	ns := f.namespace
	var state cluster.State
	handler := ""
	var inputs []*unstructured.Unstructured
	var sources []string
	if f.kubeconfig == "" {
		if ns == "" {
			ns = "default"
		}
		if state, err = f.fileState(objs, ns); err != nil {
			return err
		}
		for _, o := range objs {
			if o.GetKind() == "ConfigMap" && o.GetNamespace() == kymaConfig.Namespace && o.GetName() == kymaConfig.Name {
				data, _, _ := unstructured.NestedString(o.Object, "data", "api-gateway-config")
				handler = jwtHandlerOf(data)
			}
			inputs, sources = append(inputs, o.Unstructured), append(sources, o.Source)
		}
	} else {
		c, ctxNS, err := liveClient(f.kubeconfig, f.kubeContext)
		if err != nil {
			return err
		}
		if ns == "" {
			ns = ctxNS
		}
		state = f.state(cluster.FromReader(c))
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, kymaConfig, cm); err == nil {
			handler = jwtHandlerOf(cm.Data["api-gateway-config"])
		}
		if len(f.files) > 0 {
			for _, o := range objs {
				if o.GetNamespace() == "" {
					o.SetNamespace(ns)
				}
				inputs, sources = append(inputs, o.Unstructured), append(sources, o.Source)
			}
		} else {
			if f.allNamespaces {
				ns = ""
			}
			if inputs, err = listAPIRules(ctx, c, ns); err != nil {
				return err
			}
			for range inputs {
				sources = append(sources, "cluster")
			}
		}
	}

	rv := &review.Reviewer{Config: cfg, Cluster: state, Trust: resolver}
	env := migrate.Env{Lookup: state, Trust: resolver, Authorizer: f.authorizer, JWTHandler: handler}
	var results []*migration
	for i, u := range inputs {
		rule, from, ok, err := migrate.FromObject(u)
		if !ok {
			continue
		}
		source := sources[i]
		if from != "" && from != migrate.FromV1beta1 {
			source += ", " + from
		}
		if err != nil {
			results = append(results, &migration{
				Result:   &migrate.Result{Namespace: u.GetNamespace(), Name: u.GetName(), Source: source, Status: migrate.Refused},
				problems: []string{field.Invalid(field.NewPath("metadata", "annotations"), migrate.AnnotationV1beta1Spec, err.Error()).Error()},
			})
			continue
		}
		m := &migration{Result: migrate.Convert(ctx, migrate.Input{Rule: rule, Source: source}, env)}
		for _, e := range m.Refusals {
			m.problems = append(m.problems, e.Error())
		}
		if m.Object != nil {
			checkMigrated(ctx, rv, m)
		}
		results = append(results, m)
	}
	sort.SliceStable(results, func(i, j int) bool {
		if results[i].Namespace != results[j].Namespace {
			return results[i].Namespace < results[j].Namespace
		}
		return results[i].Name < results[j].Name
	})
	if err := printMigrated(out, f.output, results); err != nil {
		return err
	}
	printMigrationReport(report, results)
	for _, r := range results {
		if r.Status == migrate.Refused {
			return exitError{code: 1}
		}
	}
	return nil
}

// kymaConfig is the ConfigMap naming Kyma's v1beta1 jwt handler, in its
// key api-gateway-config as YAML with jwtHandler.
var kymaConfig = client.ObjectKey{Namespace: "kyma-system", Name: "api-gateway-config"}

func jwtHandlerOf(config string) string {
	var c struct {
		JWTHandler string `json:"jwtHandler"`
	}
	if yaml.Unmarshal([]byte(config), &c) != nil {
		return ""
	}
	switch h := strings.ToLower(c.JWTHandler); h {
	case migrate.HandlerOry, migrate.HandlerIstio:
		return h
	}
	return ""
}

// fileState is the cluster state that -f objects form, built as check
// builds it (objects without a namespace are put in ns); migrate and explain
// build it only here.
func (f *commonFlags) fileState(objs []manifest.Object, ns string) (cluster.State, error) {
	var state []runtime.Object
	for _, o := range objs {
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" {
			o.SetNamespace(ns)
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
	return f.state(st), nil
}

// checkMigrated runs the result through the defaults and checks `check`
// runs; a denial refuses the migration.
func checkMigrated(ctx context.Context, rv *review.Reviewer, m *migration) {
	raw, err := json.Marshal(m.Object)
	if err != nil {
		m.problems = append(m.problems, "encoding the v2 object: "+err.Error())
		m.Status, m.Object = migrate.Refused, nil
		return
	}
	res := rv.Review(ctx, &review.Request{GVK: apirule.V2, Namespace: m.Namespace, Name: m.Name, Operation: "UPDATE", Object: raw})
	for _, v := range res.Warnings {
		m.warnings = append(m.warnings, v.String())
	}
	if !res.Allowed {
		for _, v := range res.Violations {
			m.problems = append(m.problems, "the v2 object fails gatewarden's checks: "+v.String())
		}
		m.Status, m.Object = migrate.Refused, nil
	}
}

// listAPIRules reads the APIRules stored in a namespace ("" for all) as v2,
// the version every Kyma release serves.
func listAPIRules(ctx context.Context, c client.Reader, ns string) ([]*unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(apirule.V2.GroupVersion().WithKind("APIRuleList"))
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, l, opts...); err != nil {
		return nil, fmt.Errorf("listing APIRules: %w", err)
	}
	out := make([]*unstructured.Unstructured, 0, len(l.Items))
	for i := range l.Items {
		u := &l.Items[i]
		u.SetGroupVersionKind(apirule.V2)
		out = append(out, u)
	}
	return out, nil
}

// printMigrated writes the migrated objects: YAML documents, or a v1 List.
func printMigrated(w io.Writer, format string, results []*migration) error {
	var items []map[string]any
	for _, r := range results {
		if r.Object == nil {
			continue
		}
		raw, err := json.Marshal(r.Object)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		items = append(items, m)
	}
	if format == "json" {
		if items == nil {
			items = []map[string]any{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	for i, it := range items {
		y, err := yaml.Marshal(it)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(y); err != nil {
			return err
		}
	}
	return nil
}

func printMigrationReport(w io.Writer, results []*migration) {
	if len(results) == 0 {
		fmt.Fprintln(w, "no APIRules v1beta1 found: nothing to migrate")
		return
	}
	count := map[migrate.Status]int{}
	for _, r := range results {
		count[r.Status]++
		fmt.Fprintf(w, "apirule.gateway.kyma-project.io/%s (namespace %s, from %s): %s\n", r.Name, r.Namespace, r.Source, r.Status)
		for _, p := range r.problems {
			fmt.Fprintf(w, "  error: %s\n", p)
		}
		if r.Status == migrate.Refused {
			continue
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		for _, v := range r.warnings {
			fmt.Fprintf(w, "  Warning: %s\n", v)
		}
	}
	var parts []string
	for _, s := range []migrate.Status{migrate.Migrated, migrate.MigratedWithNotes, migrate.Refused} {
		parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
	}
	fmt.Fprintf(w, "%d APIRules: %s\n", len(results), strings.Join(parts, ", "))
}
