# syntax=docker/dockerfile:1
# gatewarden: a static binary on distroless, running as nonroot.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t gatewarden .

ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
# Dependencies first: this layer is reused while only sources change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gatewarden ./cmd/gatewarden

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.source="https://github.com/gatewarden/gatewarden" \
      org.opencontainers.image.description="Admission webhook for Kyma APIRules and Istio exposure configuration"
COPY --from=build /out/gatewarden /gatewarden
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/gatewarden"]
CMD ["serve"]
