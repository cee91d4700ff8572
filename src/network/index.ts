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
export { NetworkManager, type NetworkManagerOptions, type NetworkRequest, type NetworkStatus, type NetworkAttachment } from './manager.js';
export {
  DEFAULT_NETWORK, DEFAULT_BRIDGE, DEFAULT_SUBNET, CREATE_POOL, bridgeNetwork, loopbackNetwork, describeNetwork, ensureDefaultNetwork,
  createNetwork, listNetworks, inspectNetwork, removeNetwork,
  type BridgeNetworkOptions, type NetworkInfo, type DefaultNetworkOptions, type CreateNetworkOptions,
} from './networks.js';
export { parsePublish, publishAll, checkConflicts, assignHostPorts, toCniPortMappings, formatPorts, type PortMapping, type Protocol } from './ports.js';
export {
  buildResolvConf, parseResolvConf, buildHosts, parseAddHost, writeContainerFiles, FALLBACK_NAMESERVERS,
  type ResolvOptions, type HostsOptions, type HostEntry, type ContainerFiles, type ContainerFilesOptions,
} from './dnsfiles.js';
export { parseSubnet, overlaps, contains, type Subnet } from './cidr.js';
