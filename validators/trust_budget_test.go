package validators

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/gatewarden/gatewarden/internal/core"
	"github.com/gatewarden/gatewarden/internal/trust"
)

// budgetTrust answers the first `fetches` URLs like goodTrust would for a
// self-naming issuer and every later one with a Budget error, as the
// HTTPResolver does once an object's fetch budget is spent.
type budgetTrust struct {
	fetches int64
	asked   atomic.Int64
}

func (b *budgetTrust) spent(uri string) error {
	if b.asked.Add(1) > b.fetches {
		return &trust.FetchError{URL: uri, Kind: trust.Budget, Err: fmt.Errorf("the fetch budget of %d per object is spent", b.fetches)}
	}
	return nil
}

func (b *budgetTrust) Discover(_ context.Context, issuer string) (*trust.Discovery, error) {
	if err := b.spent(trust.DiscoveryURL(issuer)); err != nil {
		return nil, err
	}
	return &trust.Discovery{Issuer: issuer, JWKSURI: issuer + "/keys"}, nil
}

func (b *budgetTrust) JWKS(_ context.Context, uri string) (*trust.KeySet, error) {
	if err := b.spent(uri); err != nil {
		return nil, err
	}
	return &trust.KeySet{Raw: goodJWKS}, nil
}

// TestFetchBudgetSpentWarnsOncePerCheck: an object with 1,500 issuers and
// a budget of 16 fetches gets one warning per check saying what was not
// checked and why, never a denial, however many URLs were left.
func TestFetchBudgetSpentWarnsOncePerCheck(t *testing.T) {
	trustKeys(t)
	var rules []*securityv1beta1.JWTRule
	for i := range 1500 {
		rules = append(rules, &securityv1beta1.JWTRule{Issuer: fmt.Sprintf("https://idp-%d.example.com", i)})
	}
	tr := &budgetTrust{fetches: 16}
	r := runTrust(t, reqAuthn(rules...), tr, nil, core.DefaultPolicy)
	if !r.Allowed() {
		t.Fatalf("denied: %v", r.Violations)
	}
	var budget []core.Finding
	for _, w := range r.Warnings {
		if strings.Contains(w.Message, "not checked") {
			budget = append(budget, w)
		}
	}
	if len(budget) != 1 || budget[0].Check != JWTIssuerDiscovery.ID || budget[0].Field != "spec.jwtRules[8].issuer" ||
		!strings.Contains(budget[0].Message, "the fetch budget of 16 per object is spent; later URLs of this object were not fetched either") {
		t.Errorf("budget warnings %v; want one, on the first issuer not fetched", budget)
	}
	if len(r.Warnings) > 3 {
		t.Errorf("%d warnings for one spent budget: %v", len(r.Warnings), r.Warnings)
	}
}

// TestFetchBudgetNeverDenies: a Budget answer is a warning under
// networkErrorAction deny too: nothing was asked, so nothing is wrong.
func TestFetchBudgetNeverDenies(t *testing.T) {
	trustKeys(t)
	tr := &budgetTrust{fetches: 0}
	r := runTrust(t, reqAuthn(&securityv1beta1.JWTRule{Issuer: idp, JwksUri: idpKeys}), tr, nil, networkDeny{})
	if !r.Allowed() {
		t.Fatalf("denied: %v", r.Violations)
	}
	if !hasFinding(r.Warnings, JWTJWKSUsable.ID, "spec.jwtRules[0].jwksUri", "not checked", "fetch budget") {
		t.Errorf("warnings %v", r.Warnings)
	}
	var fe *trust.FetchError
	if err := tr.spent("x"); !errors.As(err, &fe) || trust.KindOf(err) != trust.Budget {
		t.Errorf("fake: %v", err)
	}
}
