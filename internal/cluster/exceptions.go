package cluster

import (
	"context"

	"github.com/gatewarden/gatewarden/internal/exception"
)

// Exceptions lists the namespace's GatewardenExceptions; none where the CRD
// is not installed.
func (c *reader) Exceptions(ctx context.Context, ns string) ([]*exception.GatewardenException, error) {
	if l, ok := storeList[*exception.GatewardenException](ctx, c.stores, "GatewardenException", "", "", ns); ok {
		return l, nil
	}
	var l exception.GatewardenExceptionList
	if _, err := c.list(ctx, &l, ns); err != nil {
		return nil, err
	}
	out := make([]*exception.GatewardenException, len(l.Items))
	for i := range l.Items {
		out[i] = &l.Items[i]
	}
	return out, nil
}

func (m *memo) Exceptions(ctx context.Context, ns string) ([]*exception.GatewardenException, error) {
	return ask(m, memoKey{"exceptions", ns, ""}, func() ([]*exception.GatewardenException, error) { return m.s.Exceptions(ctx, ns) })
}
