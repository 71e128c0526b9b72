package main

import (
	_ "code.dny.dev/ssrf"
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/hashicorp/golang-lru/v2/expirable"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/sync/singleflight"
	_ "istio.io/client-go/pkg/apis/networking/v1"
	_ "istio.io/client-go/pkg/apis/security/v1"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/controller-runtime/pkg/webhook"
	_ "sigs.k8s.io/yaml"
)

func main() {}
