// The distribution client: registries.conf (mirrors, locations, insecure, blocked, search
// registries), credentials (containers-auth.json), TLS per host, and the OCI distribution
// API (manifests, blobs, uploads) with token and basic auth.
export {
  loadRegistriesConf,
  parseRegistriesConf,
  pullSources,
  pushSource,
  isInsecureHost,
  type RegistriesConf,
  type RegistryEntry,
  type Mirror,
  type PullFromMirror,
  type Source,
} from './conf.js';
export { defaultAuthFile, findCredentials, saveCredentials, removeCredentials, removeAllCredentials, type Credentials } from './auth.js';
export { Transport, refreshTransports } from './transport.js';
export { registryEndpoint, canonicalRegistry } from './endpoint.js';
export { RegistryClient, Repository, parseChallenge, type ClientOptions, type FetchedManifest, type BlobPushOptions } from './client.js';
