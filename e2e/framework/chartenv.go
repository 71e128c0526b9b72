package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// ChartEnv is the environment the chart's Deployment gives gatewarden:
// GOMEMLIMIT is its memory limit in bytes (a resourceFieldRef), which also
// sets the heap target gatewarden's collector paces to.
func ChartEnv(root string) ([]string, error) {
	path := filepath.Join(root, "charts", "gatewarden", "values.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var values struct {
		Resources struct {
			Limits map[string]string `json:"limits"`
		} `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	limit, ok := values.Resources.Limits["memory"]
	if !ok {
		return nil, nil
	}
	q, err := resource.ParseQuantity(limit)
	if err != nil {
		return nil, fmt.Errorf("%s: resources.limits.memory: %w", path, err)
	}
	return []string{"GOMEMLIMIT=" + strconv.FormatInt(q.Value(), 10)}, nil
}
