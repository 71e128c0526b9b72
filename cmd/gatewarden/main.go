// Command gatewarden is the admission webhook (`serve`), the same checks run
// offline over manifest files (`check`, and `test` against expectations),
// and the catalogue of checks.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// exitError carries an exit status through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(args []string) int {
	root := &cobra.Command{
		Use:           "gatewarden",
		Short:         "Admission webhook that stops broken or unsafe Kyma/Istio exposure configuration",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newCheckCmd(os.Stdin), newTestCmd(), newChecksCmd(), newMigrateCmd(os.Stdin), newExplainCmd(os.Stdin), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version) },
	})
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if e, ok := err.(exitError); ok {
			return e.code
		}
		fmt.Fprintln(os.Stderr, "gatewarden:", err)
		return 2
	}
	return 0
}
