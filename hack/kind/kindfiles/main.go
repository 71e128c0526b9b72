// Command kindfiles writes the kind cluster configuration (kind.yaml) and the
// chart values (values.yaml) of kind mode into a directory, for
// hack/kind-e2e.sh. Their content comes from e2e/framework (KindConfig,
// KindValues), whose unit tests check it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gatewarden/gatewarden/e2e/framework"
)

func main() {
	var o framework.KindOptions
	out := flag.String("out", "", "directory to write kind.yaml and values.yaml into (required)")
	flag.StringVar(&o.ClusterName, "cluster", "", "kind cluster name (default gatewarden-e2e)")
	flag.StringVar(&o.NodeImage, "node-image", "", "kind node image (default: kind's)")
	flag.StringVar(&o.Image, "image", "", "gatewarden image loaded into the nodes (default gatewarden:e2e)")
	flag.IntVar(&o.Workers, "workers", 0, "worker nodes (default 2)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kindfiles -out DIR [-cluster NAME] [-node-image IMAGE] [-image IMAGE] [-workers N]")
		os.Exit(2)
	}
	if err := framework.WriteKindFiles(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "kindfiles:", err)
		os.Exit(1)
	}
}
