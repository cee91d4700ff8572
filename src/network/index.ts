// Container networking through CNI: the plugin runner, network namespaces, networks
// (conflists) and the files a container needs for name resolution. This is the face the
// rest of berth uses; the implementation lives in the files named below.
export { CniRunner } from './cni/runner.js';
export { loadNetworks, parseConfList, parseSingleConf, type NetworkConfigList, type PluginConf } from './cni/config.js';
export { summarize } from './cni/result.js';
export { createNetns, removeNetns, listNetns } from './netns.js';
export { NetworkManager, type NetworkStatus } from './manager.js';
export { DEFAULT_NETWORK, ensureDefaultNetwork, createNetwork, listNetworks, inspectNetwork, removeNetwork, networkMeta } from './networks.js';
export { parsePublish, publishAll, checkConflicts, assignHostPorts, formatPorts, type PortMapping } from './ports.js';
export { buildResolvConf, buildHosts, parseAddHost, writeContainerFiles } from './dnsfiles.js';
export { DNS_DOMAIN, dnsnameArgs, dnsnameDir, hasDnsname, withDnsnameArgs, type DnsnameArgs, type DnsnameNames } from './dnsname.js';
export { parseSubnet, overlaps, contains, type Subnet } from './cidr.js';
