# gatewarden: a static binary on distroless, running as nonroot.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t gatewarden .
#
# BUILDER_IMAGE and RUNTIME_IMAGE name the base images. They default to the
# public golang and distroless images; a machine without a registry passes
# images it built itself (hack/kind/build.sh does). A replacement builder
# needs Go on PATH; a replacement runtime needs the user 65532 and CA
# certificates in /etc/ssl/certs.
#
# No `# syntax=` line: the Dockerfile frontend built into BuildKit (Docker
# 20.10 and later) understands RUN --mount, and naming a frontend image would
# make every build pull it.

ARG GO_VERSION=1.26
ARG BUILDER_IMAGE=golang:${GO_VERSION}
ARG RUNTIME_IMAGE=gcr.io/distroless/static:nonroot

FROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS build
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

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.source="https://github.com/gatewarden/gatewarden" \
      org.opencontainers.image.description="Admission webhook for Kyma APIRules and Istio exposure configuration"
COPY --from=build /out/gatewarden /gatewarden
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/gatewarden"]
CMD ["serve"]
