package main

import "github.com/gatewarden/gatewarden/internal/trust"

func newResolver(opts trust.Options) (trust.Resolver, error) {
	return trust.New(opts)
}
