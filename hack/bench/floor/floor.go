// Package floor is the bare admission floor gatewarden is measured
// against: a plain Go HTTPS server that decodes each AdmissionReview and
// answers "allowed", on any path. It is also the no-op webhook that
// gatewarden-bench registers with the API server the way the chart
// registers gatewarden, for the through-the-API-server comparison.
package floor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// Handler decodes the AdmissionReview (all of it, into the API's own types)
// and admits, echoing the UID and the review's version.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 7<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			http.Error(w, fmt.Sprintf("not an AdmissionReview request: %v", err), http.StatusBadRequest)
			return
		}
		out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta,
			Response: &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// Server is a running floor.
type Server struct {
	URL string
	srv *http.Server
	l   net.Listener
}

// Start serves h (Handler, or a mux around it) over HTTPS (HTTP/1.1 only,
// as gatewarden serves by default) on addr, e.g. 127.0.0.1:0, with the
// certificate and key files.
func Start(addr, certFile, keyFile string, h http.Handler) (*Server, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	s := &Server{URL: "https://" + l.Addr().String(), l: l,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg}}
	go func() {
		if err := s.srv.Serve(tls.NewListener(l, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("floor: %v\n", err)
		}
	}()
	return s, nil
}

// Stop closes the server and its connections.
func (s *Server) Stop() {
	if s == nil || s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
