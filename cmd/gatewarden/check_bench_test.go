package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkManifest is n APIRules over 100 namespaces, each with one Service
// they share; every other APIRule protects its paths with jwt, so the
// shared-workload check has pairs to compare.
func checkManifest(n int) string {
	docs := []string{`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyma-gateway, namespace: kyma-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: kyma-gateway-certs}
    hosts: ["*.local.kyma.dev"]`}
	for ns := 0; ns < 100; ns++ {
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: bench-%03d, labels: {istio-injection: enabled}}`, ns), fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: bench-%03d}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]`, ns))
	}
	for i := 0; i < n; i++ {
		access := "noAuth: true"
		if i%2 == 1 {
			access = "jwt: {authentications: [{issuer: https://issuer.local.kyma.dev, jwksUri: https://issuer.local.kyma.dev/keys}]}"
		}
		docs = append(docs, fmt.Sprintf(`apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: stored-%05d, namespace: bench-%03d}
spec:
  hosts: [stored-%05d.local.kyma.dev]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /headers
    methods: [GET]
    %s`, i, i%100, i, access))
	}
	return strings.Join(docs, "\n---\n")
}

// BenchmarkCheckFiles is `gatewarden check --no-network -f` over n APIRules:
// the time per APIRule should not grow with n beyond what one namespace
// holds.
func BenchmarkCheckFiles(b *testing.B) {
	for _, n := range []int{1000, 4000, 10000} {
		path := filepath.Join(b.TempDir(), "objects.yaml")
		if err := os.WriteFile(path, []byte(checkManifest(n)), 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("apirules=%d", n), func(b *testing.B) {
			for b.Loop() {
				f := &checkFlags{files: []string{path}, noNetwork: true, output: "text"}
				if err := runCheck(context.Background(), f, nil, io.Discard); err != nil {
					if _, ok := err.(exitError); !ok {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1e3, "µs/apirule")
		})
	}
}
