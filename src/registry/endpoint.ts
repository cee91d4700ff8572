// Docker Hub goes by several names: references (and berth's records) say docker.io, its
// distribution API answers at registry-1.docker.io, and docker's auth files key it as
// index.docker.io, often as the URL https://index.docker.io/v1/. Both directions are
// mapped here and nowhere else.
const HUB = 'docker.io';
const HUB_API = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['index.docker.io', 'index.docker.io/v1', HUB_API]);

/** The host that serves the API of registry `host` ('host[:port]'): itself, but for Docker Hub. */
export function registryEndpoint(host: string): string {
  return canonicalRegistry(host) === HUB ? HUB_API : host;
}

/** A registry key ('host[:port][/path]', or a URL) as berth names it: Docker Hub's aliases become docker.io. */
export function canonicalRegistry(key: string): string {
  const k = key.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  return HUB_ALIASES.has(k) ? HUB : k;
}
