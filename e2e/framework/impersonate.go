package framework

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccountIdentity is the user and groups the API server gives a
// ServiceAccount's token: what RBAC bindings to the ServiceAccount match.
func ServiceAccountIdentity(namespace, name string) (user string, groups []string) {
	return fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name),
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}

// ImpersonatingKubeconfig writes to path a copy of the cluster's admin
// kubeconfig whose user acts as user with groups (kubeconfig `as` and
// `as-groups`): every request then carries the admin's credentials but is
// authorized as the impersonated identity, so it gets exactly that
// identity's permissions. This is how a process outside the cluster runs
// with a ServiceAccount's RBAC without a token.
func (c *Cluster) ImpersonatingKubeconfig(path, user string, groups ...string) error {
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.Kubeconfig, err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return fmt.Errorf("%s: no current context %q", c.Kubeconfig, cfg.CurrentContext)
	}
	auth, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok {
		return fmt.Errorf("%s: context %q names no user %q", c.Kubeconfig, cfg.CurrentContext, ctx.AuthInfo)
	}
	auth = auth.DeepCopy()
	auth.Impersonate = user
	auth.ImpersonateGroups = append([]string(nil), groups...)
	cfg.AuthInfos[ctx.AuthInfo] = auth
	return clientcmd.WriteToFile(*cfg, path)
}
