// The distribution client: registries.conf (mirrors, locations, insecure, blocked, search
// registries), credentials (containers-auth.json), TLS per host, and the OCI distribution
// API (manifests, blobs, uploads) with token and basic auth.
export {
  loadRegistriesConf,
  parseRegistriesConf,
  findRegistry,
  pullSources,
  pushSource,
  isInsecureHost,
  DEFAULT_REGISTRIES_CONF,
  type RegistriesConf,
  type RegistryEntry,
  type Mirror,
  type PullFromMirror,
  type Source,
} from './conf.js';
export { authFiles, defaultAuthFile, findCredentials, saveCredentials, removeCredentials, removeAllCredentials, type Credentials } from './auth.js';
export { Transport, DEFAULT_CERTS_DIR, type TransportOptions } from './transport.js';
export { registryEndpoint, canonicalRegistry } from './endpoint.js';
export { RegistryClient, Repository, ManifestTypes, parseChallenge, type ClientOptions, type FetchedManifest, type BlobPushOptions } from './client.js';
