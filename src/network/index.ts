// Container networking through CNI: the plugin runner, network namespaces, networks
// (conflists) and the files a container needs for name resolution.
export {
  CniRunner, DEFAULT_CONF_DIR, DEFAULT_PLUGIN_DIRS, DEFAULT_PLUGIN_TIMEOUT_MS,
  type CniRunnerOptions, type RuntimeConf, type CallOptions, type AttachmentKey,
} from './cni/runner.js';
export {
  loadNetworks, parseConfList, parseSingleConf, serializeConfList, SUPPORTED_VERSIONS,
  type NetworkConfigList, type PluginConf, type LoadedNetworks,
} from './cni/config.js';
export { CniPluginError, CNI_ERRORS, findPlugin } from './cni/exec.js';
export type { CachedAttachment } from './cni/cache.js';
export { summarize, type CniResult, type CniInterface, type CniIpConfig, type CniRoute, type CniDns, type AttachmentSummary } from './cni/result.js';
export { createNetns, removeNetns, listNetns, netnsPath } from './netns.js';
