package migrate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestFromObject(t *testing.T) {
	for _, tc := range []struct {
		name, obj string
		ok        bool
		from      string
		host      string
		wantErr   string
	}{
		{name: "v1beta1", ok: true, from: FromV1beta1, host: "a.example.com", obj: `
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: a, namespace: ns1}
spec: {host: a.example.com, rules: [{path: /a, methods: [GET], accessStrategies: [{handler: noop}]}]}`},
		{name: "converted by Kyma: the annotation holds the spec", ok: true, from: FromAnnotation, host: "b.example.com", obj: `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata:
  name: b
  namespace: ns1
  labels: {app: b}
  annotations:
    gateway.kyma-project.io/original-version: v1beta1
    gateway.kyma-project.io/v1beta1-spec: '{"host":"b.example.com","gateway":"kyma-system/kyma-gateway","rules":[{"path":"/.*","methods":["GET"],"accessStrategies":[{"handler":"allow"}]}]}'
spec: {hosts: [ignored.example.com], gateway: kyma-system/kyma-gateway}`},
		{name: "read as v2 without a conversion webhook", ok: true, from: FromV1beta1Fields, host: "c.example.com", obj: `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: c, namespace: ns1}
spec: {host: c.example.com, rules: [{path: /a, methods: [GET], accessStrategies: [{handler: noop}]}]}`},
		{name: "v2 already", ok: false, obj: `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: d, namespace: ns1, annotations: {gateway.kyma-project.io/original-version: v2}}
spec: {hosts: [d.example.com], rules: [{path: /a, methods: [GET], noAuth: true}]}`},
		{name: "original-version v1beta1 without the spec", ok: true, wantErr: "is missing", obj: `
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: e, namespace: ns1, annotations: {gateway.kyma-project.io/original-version: v1beta1}}
spec: {hosts: [e.example.com]}`},
		{name: "another kind", ok: false, obj: `
apiVersion: v1
kind: Service
metadata: {name: f, namespace: ns1}
spec: {host: nonsense}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.obj), &u.Object); err != nil {
				t.Fatal(err)
			}
			r, from, ok, err := FromObject(u)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error with %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if from != tc.from || r.Spec.Host == nil || *r.Spec.Host != tc.host || r.Name != u.GetName() || r.Namespace != "ns1" {
				t.Fatalf("from %q host %v name %s/%s", from, r.Spec.Host, r.Namespace, r.Name)
			}
			if tc.from == FromAnnotation && (r.Labels["app"] != "b" || len(r.Spec.Rules) != 1 || r.Spec.Rules[0].AccessStrategies[0].Name != "allow") {
				t.Fatalf("metadata or spec not taken over: %+v", r)
			}
		})
	}
}
