#!/usr/bin/env bash
# Installs what berth needs on Debian 12 (bookworm), as root. Idempotent: installs only
# the packages that are missing and runs `apt-get update` only when something is.
# Node.js 20 and npm are expected to be there already.
set -euo pipefail

PACKAGES=(
  runc conmon containernetworking-plugins iproute2 iptables   # runtime, monitor, networking
  busybox-static zstd                                          # test images, zstd layers
  skopeo umoci podman docker-registry uidmap containerd        # cross-checks, peers, registry
  catatonit                                                    # init for `run --init`, pods' shared PID namespace
  golang-github-containernetworking-plugin-dnsname dnsmasq-base  # names on user networks
  golang-go golang-github-docker-spdystream-dev                # an independent SPDY peer for the streaming tests
  ca-certificates gcc make python3 tar                         # native builds
  time                                                         # peak RSS in bench/pull
  docker-compose python3-docker                                # real Docker API clients (the docker CLI comes with the machine)
)

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: must run as root" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-deps: needs a Debian system (apt-get)" >&2
  exit 1
fi

# kubectl drives the streaming tests; any kubectl will do (Debian's, or one already there).
command -v kubectl >/dev/null || PACKAGES+=(kubernetes-client)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "install-deps: $tool is required (Node.js 20)" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js >= 20 required, found $(node -v)" >&2
  exit 1
fi

# The native addon (src/sys/native) compiles with gcc against /usr/include/node and uses
# only Node-API, whose headers are the same for every Node release that supports it.
# NodeSource's nodejs package ships them there; an official tarball keeps them beside the
# binary; otherwise take them from the npm package node-api-headers.
HEADERS=/usr/include/node
if [ ! -f "$HEADERS/node_api.h" ]; then
  node_prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
  if [ -f "$node_prefix/include/node/node_api.h" ] && [ ! -e "$HEADERS" ]; then
    echo "install-deps: linking $HEADERS to $node_prefix/include/node"
    ln -s "$node_prefix/include/node" "$HEADERS"
  else
    echo "install-deps: fetching Node-API headers (npm package node-api-headers)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent node-api-headers@1 >/dev/null)
    tar -xzf "$tmp"/node-api-headers-*.tgz -C "$tmp"
    mkdir -p "$HEADERS"
    cp "$tmp"/package/include/*.h "$HEADERS"/
  fi
fi
test -f "$HEADERS/node_api.h" || { echo "install-deps: $HEADERS/node_api.h still missing" >&2; exit 1; }

echo "install-deps: ok"
