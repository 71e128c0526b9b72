package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadMultiDocAndList(t *testing.T) {
	in := `# leading comment
apiVersion: v1
kind: Service
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: s}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
---
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}
`
	objs, err := Read([]string{"-"}, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if got := strings.Join(kinds, ","); got != "Service,Secret,ConfigMap,Namespace" {
		t.Fatalf("kinds = %s", got)
	}
	if objs[3].Source != "<stdin>:17" {
		t.Errorf("source = %s", objs[3].Source)
	}
}

func TestReadErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "sub", "bad.yaml")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	content := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n"
	if err := os.WriteFile(bad, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read([]string{dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
	if !strings.Contains(err.Error(), "bad.yaml:8") && !strings.Contains(err.Error(), "bad.yaml:9") {
		t.Errorf("want the line of the broken document, got %v", err)
	}
	if _, err := Read([]string{filepath.Join(dir, "missing.yaml")}, nil); err == nil {
		t.Fatal("missing file: want error")
	}
	notObj := filepath.Join(dir, "x.yaml")
	os.WriteFile(notObj, []byte("- a\n- b\n"), 0o644)
	if _, err := Read([]string{notObj}, nil); err == nil || !strings.Contains(err.Error(), "x.yaml:1") {
		t.Fatalf("a YAML list is not an object: %v", err)
	}
}
