#!/usr/bin/env bash
# Builds, offline and once, everything `make kind-e2e` needs, into bin/kind/:
# a running Docker engine, kind, a kind node image for KUBE_VERSION assembled
# from binaries built here, and the gatewarden image from the project's
# Dockerfile on base images built here. A machine needs Go, the Go module
# proxy and Debian's packages: no container registry is ever contacted.
#
#   hack/kind/build.sh                 every step below, each skipped when cached
#   hack/kind/build.sh docker node     only those steps
#
# Steps: docker (install and start dockerd), kind (the kind CLI), bins (node
# and control-plane binaries: kubebins and runtime), rootfs (Debian trees by debootstrap), images
# (control-plane, CoreDNS, pause and pod-network images), node (the node
# image), bases (the Dockerfile's offline base images), gatewarden (the
# gatewarden image, tag IMAGE).
#
# The node image's tag and the image tags carry a hash of their inputs, so a
# change in a version or in hack/kind/ builds new ones and a warm run reuses
# what Docker already holds. `make kind-clean` removes all of it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hack/kind
OUT=$ROOT/bin/kind
BIN=$OUT/bin
LOGS=$OUT/logs
mkdir -p "$BIN" "$LOGS"

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
# kubeadm $KUBE_VERSION names these images (kubeadm config images list).
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.2}
PAUSE_VERSION=${PAUSE_VERSION:-3.10.2}
# The containerd, crictl and CNI plugin versions kind v0.33.0's base image uses.
KIND_VERSION=${KIND_VERSION:-v0.33.0}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.3.4}
CRICTL_VERSION=${CRICTL_VERSION:-v1.36.0}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(.*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE=${IMAGE:-gatewarden:e2e}

export GOTOOLCHAIN=local GOFLAGS=-mod=mod

log() { printf 'kind-build: %s\n' "$*" >&2; }
# The node image's build container goes, whatever ends the script.
BUILD_CONTAINER=""
trap '[ -z "$BUILD_CONTAINER" ] || docker rm -f -v "$BUILD_CONTAINER" >/dev/null 2>&1 || true' EXIT
die() { log "$*"; exit 1; }

# stamp NAME VALUE / stamped NAME VALUE: a step's inputs, recorded when it ends.
stamped() { [ "$(cat "$OUT/.$1.stamp" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$OUT/.$1.stamp"; }

# The hash of what goes into the images: the versions, the functions that
# build them and the pod network's files. Part of every tag, so a change
# builds new images and a warm run finds the ones Docker holds.
inputs_hash() {
	{
		echo "$KUBE_VERSION $ETCD_VERSION $COREDNS_VERSION $PAUSE_VERSION $KIND_VERSION $CONTAINERD_VERSION $CRICTL_VERSION $DEBIAN_SUITE"
		echo "${NODE_PACKAGES[*]} ${NET_PACKAGES[*]}"
		declare -f static_tree import step_images node_tree step_node step_bases
		(cd "$HERE" && cat podnet/*)
	} | sha256sum | cut -c1-12
}

set_tags() {
	TAG_SUFFIX=$(inputs_hash)
	NODE_IMAGE=${KIND_NODE_IMAGE:-gatewarden-kind/node:$KUBE_VERSION-$TAG_SUFFIX}
	STATIC_IMAGE=gatewarden-kind/static:$TAG_SUFFIX
	BUILDER_IMAGE=gatewarden-kind/golang:$(go env GOVERSION | sed 's/^go//')-$TAG_SUFFIX
	PODNET_IMAGE=gatewarden-kind/podnet:$TAG_SUFFIX
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- docker

# The capabilities docker grants a privileged container that this machine's
# bounding set lacks (CAP_SYS_RESOURCE here); empty on a usual host.
missing_caps() {
	local bnd
	bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
	# Docker knows capabilities 0 to 40.
	(((0x$bnd & 0x1ffffffffff) == 0x1ffffffffff)) || echo "$bnd"
}

step_docker() {
	if docker info >/dev/null 2>&1; then return; fi
	if ! command -v dockerd >/dev/null 2>&1; then
		log "installing Debian's docker.io"
		command -v apt-get >/dev/null || die "dockerd is missing and this is no Debian machine: install Docker"
		apt-get update >"$LOGS/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io >>"$LOGS/apt.log" 2>&1 ||
			die "apt-get install docker.io failed: $LOGS/apt.log"
	fi
	if pidof dockerd >/dev/null; then
		die "dockerd runs but does not answer docker info: see its log"
	fi
	local shim=/usr/local/libexec/gatewarden-kind/runc-drop-caps conf=/etc/docker/daemon.json args=()
	if [ -n "$(missing_caps)" ]; then
		# Privileged containers get every capability docker knows; runc
		# cannot grant one outside the bounding set, so a runtime in front
		# of runc drops those first.
		log "capability bounding set $(missing_caps) lacks capabilities docker grants: installing $shim as docker's default runtime"
		install -D -m 0755 "$HERE/runc-drop-caps" "$shim"
		if [ -f "$conf" ] && ! grep -q runc-drop-caps "$conf"; then
			die "$conf exists: add {\"runtimes\":{\"runc-drop-caps\":{\"path\":\"$shim\"}},\"default-runtime\":\"runc-drop-caps\"} to it"
		fi
		mkdir -p /etc/docker
		printf '{\n  "runtimes": {"runc-drop-caps": {"path": "%s"}},\n  "default-runtime": "runc-drop-caps"\n}\n' "$shim" >"$conf"
	fi
	log "starting dockerd (log: $LOGS/dockerd.log)"
	setsid nohup dockerd "${args[@]}" >"$LOGS/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 60); do
		docker info >/dev/null 2>&1 && return
		sleep 1
	done
	tail -20 "$LOGS/dockerd.log" >&2
	die "dockerd did not come up"
}

# ---------------------------------------------------------------- binaries

# gobuild NAME MODULE VERSION PACKAGE [TAGS]: builds PACKAGE of MODULE@VERSION
# into bin/kind/bin/NAME in a wrapper module, so the module's own replace
# directives do not matter.
gobuild() {
	local name=$1 mod=$2 ver=$3 pkg=$4 tags=${5:-} d=$OUT/.build/$1
	stamped "bin-$name" "$mod@$ver $tags" && [ -x "$BIN/$name" ] && return
	log "building $name ($mod $ver)"
	mkdir -p "$d"
	printf 'module gatewarden.local/kind/%s\ngo 1.26\n' "$name" >"$d/go.mod"
	(cd "$d" && go get "$mod@$ver" >>"$LOGS/go.log" 2>&1 &&
		CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w ${LDFLAGS_EXTRA:-}" -o "$BIN/$name" "$pkg") ||
		die "building $name failed (see $LOGS/go.log)"
	stamp "bin-$name" "$mod@$ver $tags"
}

step_kind() {
	gobuild kind sigs.k8s.io/kind "$KIND_VERSION" sigs.k8s.io/kind
}

step_bins() {
	step_kubebins
	step_runtime
}

# Kubernetes' own: kube-apiserver and kubectl from make tools, the others from
# hack/tools.sh kubenode, all at KUBE_VERSION.
step_kubebins() {
	KUBE_VERSION=$KUBE_VERSION bash "$ROOT/hack/tools.sh" kubenode >>"$LOGS/go.log" 2>&1 || die "hack/tools.sh kubenode failed (see $LOGS/go.log)"
	if [ ! -x "$ROOT/bin/kube-apiserver" ] || [ ! -x "$ROOT/bin/kubectl" ]; then
		die "bin/kube-apiserver or bin/kubectl missing: run make tools"
	fi
}

# containerd, crictl, etcd, CoreDNS and pause.
step_runtime() {
	local cd_tags="no_btrfs no_devmapper no_zfs no_aufs"
	LDFLAGS_EXTRA="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
		gobuild containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" github.com/containerd/containerd/v2/cmd/containerd "$cd_tags"
	gobuild containerd-shim-runc-v2 github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 "$cd_tags"
	gobuild ctr github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" github.com/containerd/containerd/v2/cmd/ctr "$cd_tags"
	LDFLAGS_EXTRA="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
		gobuild crictl sigs.k8s.io/cri-tools "$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
	gobuild etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
	gobuild coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns
	# pause is C; the module of k8s.io/kubernetes carries its source.
	if ! stamped bin-pause "$KUBE_VERSION $PAUSE_VERSION" || [ ! -x "$BIN/pause" ]; then
		local src
		src=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c
		[ -f "$src" ] || (cd "$OUT/.build/kubelet" 2>/dev/null || true; go mod download "k8s.io/kubernetes@$KUBE_VERSION") >/dev/null 2>&1 || true
		[ -f "$src" ] || die "$src missing"
		log "building pause $PAUSE_VERSION"
		gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$BIN/pause" "$src" || die "gcc -static pause.c failed (needs gcc and libc6-dev)"
		strip "$BIN/pause"
		stamp bin-pause "$KUBE_VERSION $PAUSE_VERSION"
	fi
}

# ---------------------------------------------------------------- rootfs

ROOTFS=$OUT/rootfs

# in_chroot TREE CMD...: runs CMD in TREE with /proc, /sys and /dev mounted.
in_chroot() {
	local tree=$1 rc=0
	shift
	mount -t proc proc "$tree/proc"
	mount --rbind /sys "$tree/sys" && mount --make-rslave "$tree/sys"
	mount --rbind /dev "$tree/dev" && mount --make-rslave "$tree/dev"
	cp /etc/resolv.conf "$tree/etc/resolv.conf"
	chroot "$tree" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
	umount -R "$tree/dev" "$tree/sys" "$tree/proc" 2>/dev/null || umount -lR "$tree/dev" "$tree/sys" "$tree/proc"
	: >"$tree/etc/resolv.conf"
	return $rc
}

# apt_into TREE PACKAGES...: installs packages without recommends, then drops
# apt's lists and caches as kind's clean-install does.
apt_into() {
	local tree=$1
	shift
	printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
	chmod +x "$tree/usr/sbin/policy-rc.d"
	in_chroot "$tree" apt-get install -y --no-install-recommends "$@" >>"$LOGS/rootfs.log" 2>&1 ||
		die "apt-get install $* in $tree failed (see $LOGS/rootfs.log)"
	in_chroot "$tree" apt-get clean >>"$LOGS/rootfs.log" 2>&1
	rm -rf "$tree/var/lib/apt/lists/"* "$tree/var/cache/debconf/"*-old "$tree/usr/share/doc/"* "$tree/usr/share/man/"* "$tree/var/log/"*.log "$tree/usr/sbin/policy-rc.d"
}

# The node's packages: those of kind's base image less NFS, iSCSI and
# fuse-overlayfs (no volumes of that kind here), plus runc and the CNI plugins
# that kind builds itself.
NODE_PACKAGES=(systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2 pigz e2fsprogs
bash ca-certificates curl jq procps runc containernetworking-plugins)
# kube-proxy and the pod network agent need iptables and ip.
NET_PACKAGES=(iptables iproute2 conntrack ca-certificates)

step_rootfs() {
	local key
	key="$DEBIAN_SUITE $DEBIAN_MIRROR $(echo "${NODE_PACKAGES[*]} ${NET_PACKAGES[*]}" | sha256sum | cut -c1-12)"
	stamped rootfs "$key" && [ -d "$ROOTFS/node" ] && [ -d "$ROOTFS/net" ] && return
	command -v debootstrap >/dev/null || {
		log "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >>"$LOGS/apt.log" 2>&1 || die "apt-get install debootstrap failed"
	}
	rm -rf "$ROOTFS"
	mkdir -p "$ROOTFS"
	log "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (first time: about 4 minutes)"
	debootstrap --variant=minbase "$DEBIAN_SUITE" "$ROOTFS/base" "$DEBIAN_MIRROR" >"$LOGS/rootfs.log" 2>&1 ||
		die "debootstrap failed (see $LOGS/rootfs.log)"
	log "installing the node's and the network images' packages"
	cp -a "$ROOTFS/base" "$ROOTFS/net"
	apt_into "$ROOTFS/net" "${NET_PACKAGES[@]}"
	cp -a "$ROOTFS/base" "$ROOTFS/node"
	apt_into "$ROOTFS/node" "${NODE_PACKAGES[@]}"
	rm -rf "$ROOTFS/base/var/lib/apt/lists/"* "$ROOTFS/base/var/cache/apt/"*.bin
	stamp rootfs "$key"
}

# ---------------------------------------------------------------- images

# A static base like distroless/static: users root and nonroot (65532),
# CA certificates, /tmp. Printed as a directory path.
static_tree() {
	local t=$OUT/.build/static
	rm -rf "$t"
	mkdir -p "$t/etc/ssl/certs" "$t/tmp" "$t/home/nonroot" "$t/usr/local/bin"
	chmod 1777 "$t/tmp"
	chown 65532:65532 "$t/home/nonroot"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$t/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$t/etc/group"
	echo 'hosts: files dns' >"$t/etc/nsswitch.conf"
	cp "$ROOTFS/net/etc/ssl/certs/ca-certificates.crt" "$t/etc/ssl/certs/"
	echo "$t"
}

# import TREE IMAGE CHANGES...: the tree as a one-layer image.
import() {
	local tree=$1 image=$2
	shift 2
	local changes=()
	for c in "$@"; do changes+=(--change "$c"); done
	tar -C "$tree" --numeric-owner -cf - . | docker import "${changes[@]}" - "$image" >/dev/null
}

PATH_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# The images kubeadm and the node need, as kubeadm $KUBE_VERSION names them.
component_images() {
	echo "registry.k8s.io/kube-apiserver:$KUBE_VERSION registry.k8s.io/kube-controller-manager:$KUBE_VERSION"
	echo "registry.k8s.io/kube-scheduler:$KUBE_VERSION registry.k8s.io/kube-proxy:$KUBE_VERSION"
	echo "registry.k8s.io/etcd:${ETCD_VERSION#v}-0 registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
	echo "registry.k8s.io/pause:$PAUSE_VERSION $PODNET_IMAGE"
}

step_images() {
	local tar=$OUT/images-$TAG_SUFFIX.tar
	[ -f "$tar" ] && return
	local st t c
	st=$(static_tree)
	import "$st" "$STATIC_IMAGE" "$PATH_ENV" 'USER 65532:65532'
	log "building the control-plane, CoreDNS, pause and pod-network images"
	for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do
		t=$OUT/.build/img-$c
		rm -rf "$t" && cp -a "$st" "$t"
		if [ "$c" = kube-apiserver ]; then cp "$ROOT/bin/$c" "$t/usr/local/bin/"; else cp "$BIN/$c" "$t/usr/local/bin/"; fi
		local ref="registry.k8s.io/$c:$KUBE_VERSION"
		[ "$c" = etcd ] && ref="registry.k8s.io/etcd:${ETCD_VERSION#v}-0"
		import "$t" "$ref" "$PATH_ENV" "ENTRYPOINT [\"/usr/local/bin/$c\"]"
		rm -rf "$t"
	done
	t=$OUT/.build/img-coredns
	rm -rf "$t" && cp -a "$st" "$t" && cp "$BIN/coredns" "$t/coredns"
	import "$t" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$PATH_ENV" 'ENTRYPOINT ["/coredns"]' 'EXPOSE 53 53/udp'
	t=$OUT/.build/img-pause
	rm -rf "$t" && mkdir -p "$t" && cp "$BIN/pause" "$t/pause"
	import "$t" "registry.k8s.io/pause:$PAUSE_VERSION" 'USER 65535:65535' 'ENTRYPOINT ["/pause"]'
	rm -rf "$OUT/.build/img-coredns" "$OUT/.build/img-pause"
	# kube-proxy and the pod network agent on the Debian tree with iptables.
	t=$OUT/.build/img-net
	rm -rf "$t" && cp -a "$ROOTFS/net" "$t"
	cp "$BIN/kube-proxy" "$t/usr/local/bin/"
	import "$t" "registry.k8s.io/kube-proxy:$KUBE_VERSION" "$PATH_ENV"
	rm "$t/usr/local/bin/kube-proxy"
	cp "$ROOT/bin/kubectl" "$t/usr/local/bin/"
	install -m 0755 "$HERE/podnet/podnet.sh" "$t/usr/local/bin/podnet"
	import "$t" "$PODNET_IMAGE" "$PATH_ENV" 'ENTRYPOINT ["/usr/local/bin/podnet"]'
	rm -rf "$t" "$st"
	# shellcheck disable=SC2046
	docker save -o "$tar.tmp" $(component_images)
	mv "$tar.tmp" "$tar"
	find "$OUT" -maxdepth 1 -name 'images-*.tar' ! -name "images-$TAG_SUFFIX.tar" -delete
}

# ---------------------------------------------------------------- node image

KIND_FILES() { echo "$(go env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION/images/base/files"; }

# The node's tree: the Debian tree with kind's base files, containerd, runc,
# crictl, the CNI plugins and the Kubernetes node binaries, set up as kind's
# base image Dockerfile and node image builder set it up.
node_tree() {
	local t=$OUT/.build/node files
	files=$(KIND_FILES)
	[ -d "$files" ] || (cd "$OUT/.build/kind" && go mod download "sigs.k8s.io/kind@$KIND_VERSION") || die "kind module missing"
	rm -rf "$t"
	cp -a "$ROOTFS/node" "$t"
	install -m 0755 "$files"/usr/local/bin/* "$t/usr/local/bin/"
	mkdir -p "$t/kind/bin" "$t/kind/manifests" "$t/LICENSES" "$t/etc/containerd" "$t/etc/kubernetes/manifests" "$t/opt/cni/bin"
	install -m 0644 "$files"/kind/README.txt "$t/kind/"
	install -m 0755 "$files"/kind/bin/* "$t/kind/bin/"
	install -m 0644 "$files"/LICENSES/* "$t/LICENSES/"
	install -m 0644 "$files"/etc/crictl.yaml "$t/etc/"
	install -m 0644 "$files"/etc/containerd/* "$t/etc/containerd/"
	install -m 0644 "$files"/etc/default/* "$t/etc/default/"
	install -m 0644 "$files"/etc/sysctl.d/* "$t/etc/sysctl.d/"
	mkdir -p "$t/etc/systemd/system/kubelet.service.d"
	find "$files/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$t/etc/systemd/system/" \;
	install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$t/etc/systemd/system/kubelet.service.d/"
	chmod 755 "$t/kind" "$t/kind/bin"
	# fuse-overlayfs serves rootless nodes only; its snapshotter is not built.
	rm -f "$t/etc/systemd/system/containerd-fuse-overlayfs.service"
	sed -i '/^\[proxy_plugins/,/^$/d; /fuse-overlayfs/d' "$t/etc/containerd/config.toml"
	sed -i "s#sandbox_image = .*#sandbox_image = \"registry.k8s.io/pause:$PAUSE_VERSION\"#" "$t/etc/containerd/config.toml"
	# Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which a
	# node lacks where the host's bounding set does: runc then fails every
	# pod with "can't get final child's PID from pipe". Restricted,
	# containerd never asks for a score below its own.
	sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$t/etc/containerd/config.toml"
	for c in containerd containerd-shim-runc-v2 ctr crictl; do install -m 0755 "$BIN/$c" "$t/usr/local/bin/"; done
	for c in kubelet kubeadm; do install -m 0755 "$BIN/$c" "$t/usr/bin/"; done
	install -m 0755 "$ROOT/bin/kubectl" "$t/usr/bin/"
	# Debian's runc and CNI plugins, where kind's base image has its own.
	ln -sf /usr/sbin/runc "$t/usr/local/sbin/runc"
	cp -a "$t"/usr/lib/cni/* "$t/opt/cni/bin/"
	"$BIN/ctr" oci spec |
		jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
		jq 'del(.process.rlimits)' >"$t/etc/containerd/cri-base.json"
	echo "$KUBE_VERSION" >"$t/kind/version"
	sed "s#@PODNET_IMAGE@#$PODNET_IMAGE#" "$HERE/podnet/podnet.yaml" >"$t/kind/manifests/default-cni.yaml"
	# systemd as kind's base image sets it up: no units but its own.
	find "$t/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
	rm -f "$t"/lib/systemd/system/multi-user.target.wants/* "$t"/etc/systemd/system/*.wants/* \
		"$t"/lib/systemd/system/local-fs.target.wants/* "$t"/lib/systemd/system/sockets.target.wants/*udev* \
		"$t"/lib/systemd/system/sockets.target.wants/*initctl* "$t"/lib/systemd/system/basic.target.wants/*
	echo "ReadKMsg=no" >>"$t/etc/systemd/journald.conf"
	ln -sf /usr/lib/systemd/systemd "$t/sbin/init"
	chroot "$t" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >>"$LOGS/node.log" 2>&1
	chroot "$t" systemctl mask systemd-binfmt.service >>"$LOGS/node.log" 2>&1
	: >"$t/etc/machine-id"
	echo "$t"
}

step_node() {
	have_image "$NODE_IMAGE" && return
	local t base="gatewarden-kind/node-base:$TAG_SUFFIX" id
	log "assembling the node image $NODE_IMAGE"
	t=$(node_tree)
	import "$t" "$base" 'ENV container=docker' 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'
	rm -rf "$t"
	# As kind build node-image does: containerd runs in a container of the
	# base image, the images go into its k8s.io namespace, the container
	# becomes the node image.
	id=$(docker run -d --entrypoint=sleep --security-opt seccomp=unconfined "$base" infinity)
	BUILD_CONTAINER=$id
	docker exec "$id" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
	docker exec "$id" bash -c 'for i in $(seq 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; cat /var/log/containerd-build.log; exit 1' >&2 ||
		die "containerd did not start in the build container"
	docker exec -i "$id" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - \
		<"$OUT/images-$TAG_SUFFIX.tar" >>"$LOGS/node.log" || die "ctr images import failed"
	# sleep, as PID 1, reaps nothing: a stopped containerd stays a zombie.
	docker exec -i "$id" bash -s <<'EOS' || die "containerd did not stop in the build container"
pkill -x containerd
for i in $(seq 60); do
	ps -eo stat=,comm= | awk '$2 == "containerd" && $1 !~ /^Z/ {live = 1} END {exit !live}' || exit 0
	sleep 0.5
done
exit 1
EOS
	docker exec "$id" rm -f /var/log/containerd-build.log
	docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' "$id" "$base-committed" >/dev/null
	# systemd halts on SIGRTMIN+3; neither import nor commit can set a
	# stop signal, a one-line build can.
	printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$base-committed" | DOCKER_BUILDKIT=1 "$(build_cli)" build -q -t "$NODE_IMAGE" - >/dev/null ||
		die "setting the node image's stop signal failed"
	docker rm -f -v "$id" >/dev/null
	BUILD_CONTAINER=""
	docker rmi "$base" "$base-committed" >/dev/null
	log "node image $NODE_IMAGE ready"
}

# ---------------------------------------------------------------- gatewarden

# The Dockerfile's base images, built here: the Debian tree with this
# machine's Go toolchain as builder, the static tree as runtime.
step_bases() {
	have_image "$BUILDER_IMAGE" || {
		log "building $BUILDER_IMAGE from the Debian tree and $(go env GOROOT)"
		local t=$OUT/.build/builder goroot
		goroot=$(go env GOROOT)
		rm -rf "$t" && cp -a "$ROOTFS/net" "$t"
		mkdir -p "$t/usr/local/go" "$t/go"
		cp -a "$goroot"/. "$t/usr/local/go/"
		# The module proxy is reached as this machine reaches it, through
		# whatever CA this machine trusts for it.
		cp /etc/ssl/certs/ca-certificates.crt "$t/etc/ssl/certs/ca-certificates.crt"
		import "$t" "$BUILDER_IMAGE" 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			'ENV GOPATH=/go' "ENV GOPROXY=$(go env GOPROXY)" "ENV GOSUMDB=$(go env GOSUMDB)" 'WORKDIR /go'
		rm -rf "$t"
	}
	have_image "$STATIC_IMAGE" || {
		local st
		st=$(static_tree)
		import "$st" "$STATIC_IMAGE" "$PATH_ENV" 'USER 65532:65532'
		rm -rf "$st"
	}
}

# build_cli prints a docker client that builds with BuildKit (the Dockerfile
# uses RUN --mount): one with the buildx plugin, or a client older than 23,
# which carries BuildKit itself (Debian's docker.io 20.10 does). A newer
# client without buildx refuses BuildKit builds.
build_cli() {
	local c
	for c in $(type -ap docker | awk '!seen[$0]++'); do
		if "$c" buildx version >/dev/null 2>&1; then echo "$c"; return; fi
		local major
		major=$("$c" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
		if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then echo "$c"; return; fi
	done
	die "no docker client here builds with BuildKit: install the buildx plugin"
}

step_gatewarden() {
	local cli
	cli=$(build_cli)
	log "building $IMAGE from the Dockerfile with $cli (builder $BUILDER_IMAGE, runtime $STATIC_IMAGE)"
	# The build downloads modules through the Go proxy: host network. Its
	# BuildKit cache mounts keep them for the next build.
	DOCKER_BUILDKIT=1 "$cli" build --network host \
		--build-arg BUILDER_IMAGE="$BUILDER_IMAGE" --build-arg RUNTIME_IMAGE="$STATIC_IMAGE" \
		--build-arg VERSION="$(cd "$ROOT" && git describe --tags --always --dirty 2>/dev/null || echo dev)" \
		-t "$IMAGE" "$ROOT" >"$LOGS/image.log" 2>&1 || { tail -30 "$LOGS/image.log" >&2; die "docker build failed (see $LOGS/image.log)"; }
}

# prune: images of earlier inputs (another hash), which nothing uses any more.
step_prune() {
	local old
	old=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^gatewarden-kind/' | grep -v -- "$TAG_SUFFIX\$" || true)
	# shellcheck disable=SC2086
	[ -z "$old" ] || docker rmi $old >/dev/null 2>&1 || true
}

# clean: every image these steps made, at any input hash, and bin/kind. The
# Docker engine and its runtime stay.
step_clean() {
	if docker info >/dev/null 2>&1; then
		local imgs
		imgs=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^gatewarden-kind/' || true)
		imgs+=" $(component_images | tr ' ' '\n' | grep -v '^gatewarden-kind/' | tr '\n' ' ')"
		# shellcheck disable=SC2086
		docker rmi $imgs >/dev/null 2>&1 || true
		docker builder prune -af >/dev/null 2>&1 || true
	fi
	rm -rf "${OUT:?}/rootfs" "${OUT:?}/bin" "${OUT:?}/.build" "${OUT:?}"/images-*.tar "${OUT:?}"/.*.stamp
}

print_env() {
	echo "NODE_IMAGE=$NODE_IMAGE"
}

set_tags
if [ $# -eq 0 ]; then set -- docker kind bins rootfs images node bases gatewarden prune; fi
for s in "$@"; do
	case $s in
	env) print_env ;;
	*)
		start=$SECONDS
		"step_$s"
		log "step $s: $((SECONDS - start))s"
		;;
	esac
done
