#!/usr/bin/env bash
# podnet: the pod network of the offline kind nodes, in place of kindnetd
# (whose source no Go module carries). Each node runs one copy (a DaemonSet
# on the host network) that
#  - writes the CNI configuration for its node: the ptp plugin with addresses
#    from the node's spec.podCIDR (host-local), masquerading traffic that
#    leaves the node's pod range, and portmap;
#  - routes every other node's podCIDR through that node's InternalIP, which
#    works because all kind nodes share one Docker bridge network.
# It re-reads the nodes every PODNET_INTERVAL seconds, so a node that joins
# later gets its route too.
set -euo pipefail

: "${NODE_NAME:?NODE_NAME must be set (downward API spec.nodeName)}"
CNI_DIR=${CNI_DIR:-/etc/cni/net.d}
INTERVAL=${PODNET_INTERVAL:-10}

sa=/var/run/secrets/kubernetes.io/serviceaccount
kargs=()
# kind passes the control plane's address: the agent then needs no Service
# routing (kube-proxy), which may not be up yet.
if [ -n "${CONTROL_PLANE_ENDPOINT:-}" ]; then
	kargs=(--server "https://$CONTROL_PLANE_ENDPOINT" --token "$(cat $sa/token)" --certificate-authority $sa/ca.crt)
fi
k() { kubectl "${kargs[@]}" "$@"; }

log() { printf '%s podnet: %s\n' "$(date -u +%FT%TZ)" "$*"; }

write_cni() {
	local cidr=$1 conf=$CNI_DIR/10-podnet.conflist tmp
	tmp=$(mktemp "$CNI_DIR/.podnet.XXXXXX")
	cat >"$tmp" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "podnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$cidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
	if cmp -s "$tmp" "$conf"; then rm -f "$tmp"; else mv "$tmp" "$conf" && log "wrote $conf for $cidr"; fi
}

while true; do
	if nodes=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'); then
		while read -r name cidr ip; do
			[ -n "$cidr" ] || continue
			if [ "$name" = "$NODE_NAME" ]; then
				write_cni "$cidr"
			elif [ -n "$ip" ]; then
				if ! ip route show "$cidr" | grep -q "via $ip "; then
					ip route replace "$cidr" via "$ip" && log "route $cidr via $ip ($name)"
				fi
			fi
		done <<<"$nodes"
	else
		log "cannot list nodes; retrying"
	fi
	sleep "$INTERVAL"
done
