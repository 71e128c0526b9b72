# Denied: the issuer's discovery document names another issuer, so istiod
# would reject every token. ${GATEWARDEN_ISSUER_WRONG} is the local test issuer.
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: orders, namespace: default}
spec:
  hosts: [orders]
  gateway: kyma-system/kyma-gateway
  service: {name: httpbin, port: 8000}
  rules:
  - path: /orders/{*}
    methods: [GET]
    jwt:
      authentications:
      - issuer: ${GATEWARDEN_ISSUER_WRONG}
        jwksUri: ${GATEWARDEN_ISSUER_WRONG}/jwks
