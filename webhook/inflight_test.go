package webhook

import (
	"context"
	"testing"
	"time"
)

// An admission counts as in flight while it is answered, and for Quiet
// after it was answered, whatever the answer (the audit waits on Busy).
func TestInflightCountsAdmissions(t *testing.T) {
	const mutualNoCA = `{"metadata":{"name":"g","namespace":"default"},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["a.example.com"],"tls":{"mode":"MUTUAL"}}]}}`
	validate, _ := fuzzWebhooks(t)
	h := validate.(*Handler)
	clock := time.Unix(1_000_000, 0)
	in := &Inflight{now: func() time.Time { return clock }}
	h.Inflight = in
	var busyDuring bool
	h.Context = func(ctx context.Context) context.Context {
		busyDuring = in.Busy()
		return ctx
	}
	if in.Busy() {
		t.Fatal("busy before any admission")
	}
	for _, body := range [][]byte{
		seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", mutualNoCA), // denied
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),                         // no request
	} {
		busyDuring = false
		post(h, body)
		if !in.Busy() {
			t.Errorf("not busy right after answering %s: the next call of a write comes within Quiet", body)
		}
		clock = clock.Add(Quiet - time.Nanosecond)
		if !in.Busy() {
			t.Errorf("not busy just within Quiet after answering %s", body)
		}
		clock = clock.Add(time.Nanosecond)
		if in.Busy() {
			t.Errorf("still busy Quiet after answering %s", body)
		}
	}
	post(h, seedReview("networking.istio.io", "v1", "Gateway", "gateways", "CREATE", "default", mutualNoCA))
	if !busyDuring {
		t.Error("not busy while answering")
	}
}
