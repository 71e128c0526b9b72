package audit

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// pager serves Lists a page of one at a time, as the API server does with
// a limit (the fake client ignores limits).
type pager struct {
	client.Client
	lists int
}

func (p *pager) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	p.lists++
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	if o.Limit == 0 {
		return fmt.Errorf("listed without a limit")
	}
	if err := p.Client.List(ctx, l, &client.ListOptions{Namespace: o.Namespace, LabelSelector: o.LabelSelector}); err != nil {
		return err
	}
	ul := l.(*unstructured.UnstructuredList)
	from := 0
	if o.Continue != "" {
		from, _ = strconv.Atoi(o.Continue)
	}
	ul.Items = ul.Items[from:]
	ul.SetContinue("")
	if len(ul.Items) > 1 {
		ul.Items = ul.Items[:1]
		ul.SetContinue(strconv.Itoa(from + 1))
	}
	return nil
}

// A full run's listing reads the reports a page at a time and keeps only
// their identity; full reads one back whole.
func TestExistingReportsPaged(t *testing.T) {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(PolicyReportGVK, meta.RESTScopeNamespace)
	var objs []client.Object
	for _, ns := range []string{"a", "b", "c"} {
		u := &unstructured.Unstructured{Object: map[string]any{"results": []any{map[string]any{
			"rule": "apirule-service", "message": "in " + ns,
			"resources": []any{map[string]any{"uid": "u-" + ns, "namespace": ns, "kind": "APIRule", "name": "r"}}}}}}
		u.SetGroupVersionKind(PolicyReportGVK)
		u.SetNamespace(ns)
		u.SetName(ReportName)
		u.SetLabels(map[string]string{ManagedByLabel: managedBy})
		objs = append(objs, u)
	}
	c := &pager{Client: fake.NewClientBuilder().WithScheme(testScheme(t, true)).WithRESTMapper(m).WithObjects(objs...).Build()}
	var seen []string
	got, err := existingReports(context.Background(), c, PolicyReports, "", func(u *unstructured.Unstructured) {
		for k := range reportEntries(u) {
			seen = append(seen, k)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(seen) != 3 || c.lists != 3 {
		t.Fatalf("%d reports, %d entries seen in %d lists; want 3, 3, 3", len(got), len(seen), c.lists)
	}
	for ns, u := range got {
		if _, ok := u.Object["results"]; ok {
			t.Errorf("report of %s kept whole", ns)
		}
	}
	whole, err := full(context.Background(), c, got["b"])
	if err != nil || whole == nil {
		t.Fatalf("full: %v %v", whole, err)
	}
	if len(reportEntries(whole)) != 1 || whole.GetResourceVersion() == "" {
		t.Errorf("full report of b: %v", whole.Object)
	}
}
