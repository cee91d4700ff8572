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
  ca-certificates gcc g++ make python3 tar                     # native builds
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

# The native addons compile against node's own headers in /usr/include/node: berth_sys
# (src/sys/native) uses only Node-API, the launcher's (src/launch/launch.cc) V8's API, so
# the headers must be those of this node's major release. NodeSource's nodejs package
# ships them there; an official tarball keeps them beside the binary.
HEADERS=/usr/include/node
if [ ! -f "$HEADERS/v8.h" ]; then
  node_prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
  if [ -f "$node_prefix/include/node/v8.h" ] && [ ! -e "$HEADERS" ]; then
    echo "install-deps: linking $HEADERS to $node_prefix/include/node"
    ln -s "$node_prefix/include/node" "$HEADERS"
  fi
fi
if [ ! -f "$HEADERS/v8.h" ] || [ ! -f "$HEADERS/node_api.h" ]; then
  echo "install-deps: node's C++ headers are missing ($HEADERS/v8.h): install Node.js $(node -v) from NodeSource's package or the official tarball, which ship them" >&2
  exit 1
fi
headers_major=$(sed -n 's/^#define NODE_MAJOR_VERSION \([0-9]*\)$/\1/p' "$HEADERS/node_version.h")
if [ "$headers_major" != "$node_major" ]; then
  echo "install-deps: $HEADERS holds the headers of Node.js $headers_major, not of this node ($(node -v))" >&2
  exit 1
fi

echo "install-deps: ok"
