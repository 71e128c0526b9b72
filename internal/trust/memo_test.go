package trust

import (
	"context"
	"errors"
	"testing"
)

type policyResolver struct {
	Offline
	asked int
}

func (p *policyResolver) Allowed(context.Context, string) error {
	p.asked++
	return errors.New("blocked")
}

func (p *policyResolver) JWKS(ctx context.Context, uri string) (*KeySet, error) {
	p.asked++
	return &KeySet{Raw: []byte(`{"keys":[]}`)}, nil
}

// The memo answers each URL once and keeps the wrapped resolver's policy.
func TestMemo(t *testing.T) {
	p := &policyResolver{}
	m := Memo(p)
	for range 3 {
		if _, err := m.JWKS(context.Background(), "https://a.example.com/jwks"); err != nil {
			t.Fatal(err)
		}
	}
	if p.asked != 1 {
		t.Errorf("asked %d times, want once", p.asked)
	}
	for range 2 {
		if err := Allowed(context.Background(), m, "https://169.254.169.254/jwks", nil); err == nil || p.asked != 2 {
			t.Errorf("the wrapped policy was not asked exactly once: %v, %d asks", err, p.asked)
		}
	}
	if Memo(m) != m {
		t.Error("a memo of a memo should be the memo")
	}
}
