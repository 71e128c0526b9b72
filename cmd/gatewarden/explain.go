package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/apirule"
	"github.com/gatewarden/gatewarden/internal/cluster"
	"github.com/gatewarden/gatewarden/internal/explain"
	"github.com/gatewarden/gatewarden/internal/manifest"
	"github.com/gatewarden/gatewarden/internal/migrate"
	"github.com/gatewarden/gatewarden/internal/trust"
)

type explainFlags struct {
	commonFlags
	files       []string
	output      string
	noNetwork   bool
	kubeconfig  string
	kubeContext string
	namespace   string
	token       string
	tokenFile   string
	tokenHeader string
	tokenPrefix string
	tokenParam  string
	method      string
	path        string
	host        string
	headers     []string
	workload    string
}

func newExplainCmd(stdin io.Reader) *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:   "explain (--token JWT | --token-file FILE) (-f FILE... | --kubeconfig FILE) [--method GET --path /x --host h]",
		Short: "Explain step by step what istiod and Envoy do with a request and its token: why 401, why 403",
		Long: `explain follows one request through what the objects configure: the APIRule rule that routes it, the
RequestAuthentications and AuthorizationPolicies that apply to its workload (for APIRules, the ones Kyma
generates), Envoy's JWT checks (where the token is read, iss against each issuer exactly, exp and nbf, audiences,
kid and alg against the JWKS as fetched now, the signature), and the authorization policies (CUSTOM, DENY, ALLOW;
requestPrincipals, scopes, audiences). It ends with the verdict and the first failing step.

The token is read without trusting it and never printed or logged; --token-file (or - for stdin) keeps it out
of process listings. Offline (-f), the files' objects are all there is; with --kubeconfig the cluster's.
docs/explain.md has the details.

Exit status: 0 allowed, 1 refused, 3 undetermined (an external authorizer decides, or something could not be
known), 2 unusable input, flags or cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExplain(cmd.Context(), f, stdin, cmd.OutOrStdout())
		},
	}
	f.commonFlags.add(cmd.Flags())
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "file, directory (recursive) or - for stdin (repeatable): APIRules, RequestAuthentications, AuthorizationPolicies, Services, Gateways, Pods, the mesh ConfigMap")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	fl.BoolVar(&f.noNetwork, "no-network", false, "fetch no JWKS or discovery document: kid, alg and the signature stay unchecked")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "read the objects from this cluster")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of -f objects that name none (default \"default\")")
	fl.StringVar(&f.token, "token", "", "the JWT (visible in process listings: prefer --token-file)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the JWT, or - for stdin")
	fl.StringVar(&f.tokenHeader, "token-header", "Authorization", "header the token is sent in")
	fl.StringVar(&f.tokenPrefix, "token-prefix", "Bearer ", "text before the token in that header")
	fl.StringVar(&f.tokenParam, "token-param", "", "send the token as this query parameter instead of a header")
	fl.StringVar(&f.method, "method", "GET", "HTTP method")
	fl.StringVar(&f.path, "path", "/", "request path, query allowed")
	fl.StringVar(&f.host, "host", "", "request host (default: the only APIRule's first host)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `other request header as "Name: value", for request.headers conditions (repeatable)`)
	fl.StringVar(&f.workload, "workload", "", "explain for this Service (namespace/name) without APIRule routing")
	return cmd
}

func (f *explainFlags) validate() error {
	switch {
	case len(f.files) == 0 && f.kubeconfig == "":
		return fmt.Errorf("no objects: give -f FILE, -f DIR or -f -, or --kubeconfig FILE")
	case len(f.files) > 0 && f.kubeconfig != "":
		return fmt.Errorf("give -f or --kubeconfig, not both")
	case f.output != "text" && f.output != "json":
		return fmt.Errorf("--output %q: want text or json", f.output)
	case f.kubeContext != "" && f.kubeconfig == "":
		return fmt.Errorf("--context needs --kubeconfig")
	case f.token != "" && f.tokenFile != "":
		return fmt.Errorf("give --token or --token-file, not both")
	case f.tokenFile == "-" && slicesContains(f.files, "-"):
		return fmt.Errorf("stdin cannot hold both the token (--token-file -) and objects (-f -)")
	case f.workload != "" && !validRef(f.workload):
		return fmt.Errorf("--workload %q: want namespace/name of a Service", f.workload)
	case !strings.HasPrefix(f.path, "/"):
		return fmt.Errorf("--path %q: a request path starts with /", f.path)
	}
	return nil
}

func validRef(s string) bool {
	_, _, ok := apirule.SplitRef(s)
	return ok
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// explainStatus maps the verdict to the exit status.
var explainStatus = map[explain.Decision]int{explain.Allowed: 0, explain.Refused: 1, explain.Undetermined: 3}

func runExplain(ctx context.Context, f *explainFlags, stdin io.Reader, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := f.validate(); err != nil {
		return err
	}
	token, err := f.readToken(stdin)
	if err != nil {
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
	var in *explain.Inputs
	if f.kubeconfig != "" {
		in, err = explainLive(ctx, f)
	} else {
		in, err = explainFiles(f, stdin)
	}
	if err != nil {
		return err
	}
	in.Trust = resolver
	req := &explain.Request{Method: strings.ToUpper(f.method), Host: f.host, Path: f.path, Token: token,
		TokenHeader: f.tokenHeader, TokenPrefix: f.tokenPrefix, TokenParam: f.tokenParam, Workload: f.workload, Headers: map[string]string{}}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("--header %q: want \"Name: value\"", h)
		}
		req.Headers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	if req.Host == "" && req.Workload == "" {
		if len(in.APIRules) != 1 || len(in.APIRules[0].Spec.Hosts) == 0 {
			return fmt.Errorf("--host is needed: the input has %d APIRules", len(in.APIRules))
		}
		req.Host = in.APIRules[0].Spec.Hosts[0]
		if !strings.Contains(req.Host, ".") {
			return fmt.Errorf("--host is needed: the only APIRule's host %q is short, and its domain comes from the gateway", req.Host)
		}
	}
	rep := explain.Explain(ctx, in, req)
	if f.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		explain.Render(out, rep)
	}
	if code := explainStatus[rep.Verdict.Decision]; code != 0 {
		return exitError{code: code}
	}
	return nil
}

func (f *explainFlags) readToken(stdin io.Reader) (string, error) {
	if f.tokenFile == "" {
		return strings.TrimSpace(f.token), nil
	}
	var raw []byte
	var err error
	if f.tokenFile == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(f.tokenFile)
	}
	if err != nil {
		// The path, not the content, is named.
		return "", fmt.Errorf("--token-file %s: %v", f.tokenFile, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

var (
	podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	raGK   = schema.GroupKind{Group: "security.istio.io", Kind: "RequestAuthentication"}
	apGK   = schema.GroupKind{Group: "security.istio.io", Kind: "AuthorizationPolicy"}
)

// explainFiles reads the objects of -f: the cluster state, the APIRules
// (v1beta1 ones are left out and named) and the Istio policies.
func explainFiles(f *explainFlags, stdin io.Reader) (*explain.Inputs, error) {
	objs, err := manifest.Read(f.files, stdin)
	if err != nil {
		return nil, err
	}
	ns := f.namespace
	if ns == "" {
		ns = "default"
	}
	st, err := f.fileState(objs, ns)
	if err != nil {
		return nil, err
	}
	in := &explain.Inputs{Lookup: st}
	var pods []metav1.ObjectMeta
	for _, o := range objs {
		if err := addExplainObject(in, o.Unstructured); err != nil {
			return nil, fmt.Errorf("%s: %s %q: %v", o.Source, o.GetKind(), o.GetName(), err)
		}
		if o.GroupVersionKind() == podGVK {
			pods = append(pods, metav1.ObjectMeta{Namespace: o.GetNamespace(), Name: o.GetName(), Labels: o.GetLabels()})
		}
	}
	if len(pods) > 0 {
		in.PodLabels = func(_ context.Context, ns string, sel map[string]string) (map[string]string, error) {
			return firstPodLabels(pods, ns, sel), nil
		}
	}
	return in, nil
}

// addExplainObject files one object under what the explanation reads.
func addExplainObject(in *explain.Inputs, u *unstructured.Unstructured) error {
	gk := u.GroupVersionKind().GroupKind()
	switch gk {
	case apirule.V2.GroupKind():
		if _, _, legacy, _ := migrate.FromObject(u); legacy {
			in.Notes = append(in.Notes, fmt.Sprintf("APIRule %s/%s is v1beta1, which Kyma no longer reconciles: left out (gatewarden migrate writes its v2 form)", u.GetNamespace(), u.GetName()))
			return nil
		}
		ar, err := apirule.FromUnstructured(u)
		if err != nil {
			return err
		}
		in.APIRules = append(in.APIRules, ar)
	case raGK:
		ra := &securityv1.RequestAuthentication{}
		if err := decodeJSON(u, ra); err != nil {
			return err
		}
		in.RequestAuthentications = append(in.RequestAuthentications, ra)
	case apGK:
		ap := &securityv1.AuthorizationPolicy{}
		if err := decodeJSON(u, ap); err != nil {
			return err
		}
		in.AuthorizationPolicies = append(in.AuthorizationPolicies, ap)
	}
	return nil
}

// decodeJSON reads an Istio object through its JSON form: the specs are
// protobuf messages with their own JSON rules (every version of the kind
// shares one schema).
func decodeJSON(u *unstructured.Unstructured, into any) error {
	raw, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// firstPodLabels are the labels of the first pod, by name, the selector
// picks in the namespace.
func firstPodLabels(pods []metav1.ObjectMeta, ns string, sel map[string]string) map[string]string {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		if p.Namespace != ns {
			continue
		}
		match := true
		for k, v := range sel {
			match = match && p.Labels[k] == v
		}
		if match {
			return p.Labels
		}
	}
	return nil
}

// explainLive reads the objects from the cluster.
func explainLive(ctx context.Context, f *explainFlags) (*explain.Inputs, error) {
	c, _, err := liveClient(f.kubeconfig, f.kubeContext)
	if err != nil {
		return nil, err
	}
	in := &explain.Inputs{Lookup: f.state(cluster.FromReader(c))}
	rules, err := listAPIRules(ctx, c, "")
	if err != nil {
		return nil, err
	}
	for _, u := range rules {
		if err := addExplainObject(in, u); err != nil {
			return nil, fmt.Errorf("APIRule %s/%s: %v", u.GetNamespace(), u.GetName(), err)
		}
	}
	var ras securityv1.RequestAuthenticationList
	if err := c.List(ctx, &ras); err != nil {
		return nil, fmt.Errorf("listing RequestAuthentications: %w", err)
	}
	in.RequestAuthentications = ras.Items
	var aps securityv1.AuthorizationPolicyList
	if err := c.List(ctx, &aps); err != nil {
		return nil, fmt.Errorf("listing AuthorizationPolicies: %w", err)
	}
	in.AuthorizationPolicies = aps.Items
	in.PodLabels = func(ctx context.Context, ns string, sel map[string]string) (map[string]string, error) {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PodList"})
		if err := c.List(ctx, l, client.InNamespace(ns), client.MatchingLabels(sel)); err != nil {
			return nil, err
		}
		var pods []metav1.ObjectMeta
		for _, p := range l.Items {
			pods = append(pods, p.ObjectMeta)
		}
		return firstPodLabels(pods, ns, sel), nil
	}
	return in, nil
}
