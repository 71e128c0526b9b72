package validators

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAPIRuleOwner(t *testing.T) {
	cases := []struct {
		name string
		meta metav1.ObjectMeta
		want string
	}{
		{"none", metav1.ObjectMeta{Namespace: "a", Labels: map[string]string{"app": "x"}}, ""},
		{"owner reference", metav1.ObjectMeta{Namespace: "a", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "gateway.kyma-project.io/v2", Kind: "APIRule", Name: "r"}}}, "a/r"},
		{"owner reference of another group", metav1.ObjectMeta{Namespace: "a", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "example.com/v1", Kind: "APIRule", Name: "r"}}}, ""},
		{"name and namespace labels", metav1.ObjectMeta{Namespace: "workloads", Labels: map[string]string{
			OwnerLabelName: "r", OwnerLabelNamespace: "team"}}, "team/r"},
		{"name label alone", metav1.ObjectMeta{Namespace: "team", Labels: map[string]string{OwnerLabelName: "r"}}, "team/r"},
		{"legacy label, dotted name", metav1.ObjectMeta{Namespace: "x", Labels: map[string]string{LegacyOwnerLabel: "my.rule.team"}}, "team/my.rule"},
		{"legacy label without namespace", metav1.ObjectMeta{Namespace: "x", Labels: map[string]string{LegacyOwnerLabel: "rule"}}, ""},
		{"no namespace is default", metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "gateway.kyma-project.io/v1beta1", Kind: "APIRule", Name: "r"}}}, "default/r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := APIRuleOwner(&c.meta); got != c.want {
				t.Errorf("APIRuleOwner = %q, want %q", got, c.want)
			}
		})
	}
}
