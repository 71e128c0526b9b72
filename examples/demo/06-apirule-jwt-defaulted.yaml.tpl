# Admitted, with jwksUri filled in from the issuer's OIDC discovery by the
# mutating webhook (shown with --dry-run=server -o yaml).
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: payments, namespace: default}
spec:
  hosts: [payments]
  service: {name: httpbin, port: 8000}
  rules:
  - path: /payments/{**}
    methods: [GET, POST]
    jwt:
      authentications:
      - issuer: ${GATEWARDEN_ISSUER_GOOD}
