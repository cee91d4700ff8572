// Networks as conflists in the conf dir: the default bridge network and what
// `network ls|create|inspect|rm` need.
import { existsSync } from 'node:fs';
import { link, readdir, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidName } from '../config/index.js';
import { BerthError, alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors/index.js';
import { log } from '../log/index.js';
import { contains, firstHost, nextSubnet, overlaps, parseSubnet, type Subnet } from './cidr.js';
import { loadNetworks, serializeConfList, type NetworkConfigList, type PluginConf } from './cni/config.js';
import { execFileAsync, tempPathFor, writeFileAtomic } from '../sys/index.js';
import { dnsnamePlugin, hasDnsname, removeDnsname } from './dnsname.js';


export const DEFAULT_NETWORK = 'berth';
const DEFAULT_SUBNET = '10.99.0.0/16';
/** Subnets for `network create` without --subnet are /24s taken from here. */
const CREATE_POOL = '10.100.0.0/16';
const DEFAULT_FILE = '87-berth.conflist';
const CNI_VERSION = '1.0.0';

export interface BridgeNetworkOptions {
  name: string;
  bridge: string;
  subnet: string;
  gateway?: string;
  /** No masquerading and no default route: containers reach only each other and the host. */
  internal?: boolean;
  /** host-local's state dir (default: the plugin's own, /var/lib/cni/networks). */
  ipamDataDir?: string;
  /** Names of the containers resolve on the network (the dnsname plugin). */
  dns?: boolean;
}

/** A bridge network: bridge + host-local, then portmap, firewall and tuning (loopback is set up by the caller). */
function bridgeNetwork(o: BridgeNetworkOptions): NetworkConfigList {
  const subnet = parseSubnet(o.subnet);
  const gateway = o.gateway ?? firstHost(subnet);
  if (!contains(subnet, gateway)) throw invalidArgument(`gateway ${gateway} is not inside subnet ${subnet.cidr}`);
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: subnet.cidr, gateway }]],
  };
  if (!o.internal) ipam.routes = [{ dst: subnet.family === 4 ? '0.0.0.0/0' : '::/0' }];
  if (o.ipamDataDir) ipam.dataDir = o.ipamDataDir;
  const plugins: PluginConf[] = [
    // "ips": host-local takes a requested address (--ip) through runtimeConfig.
    { type: 'bridge', bridge: o.bridge, isGateway: !o.internal, ipMasq: !o.internal, hairpinMode: true, ipam, capabilities: { ips: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
    { type: 'firewall' },
    { type: 'tuning' },
  ];
  if (o.dns) plugins.push(dnsnamePlugin());
  return { cniVersion: CNI_VERSION, name: o.name, plugins };
}

export interface NetworkInfo {
  name: string;
  file?: string;
  cniVersion: string;
  /** First plugin's type (bridge, macvlan …). */
  driver: string;
  bridge?: string;
  subnets: { subnet: string; gateway?: string }[];
  internal: boolean;
  /** Container names resolve (the dnsname plugin is in the chain). */
  dnsEnabled: boolean;
  plugins: string[];
}

function describeNetwork(list: NetworkConfigList): NetworkInfo {
  const main = list.plugins[0]!;
  const ipam = (main.ipam ?? {}) as Record<string, unknown>;
  const subnets: NetworkInfo['subnets'] = [];
  for (const range of (ipam.ranges ?? []) as { subnet?: string; gateway?: string }[][]) {
    for (const r of range) if (r.subnet) subnets.push({ subnet: r.subnet, gateway: r.gateway });
  }
  if (typeof ipam.subnet === 'string') subnets.push({ subnet: ipam.subnet, gateway: ipam.gateway as string | undefined });
  const routes = (ipam.routes ?? []) as { dst?: string }[];
  const hasDefaultRoute = routes.some((r) => r.dst === '0.0.0.0/0' || r.dst === '::/0');
  const masq = list.plugins.some((p) => p.ipMasq === true);
  return {
    name: list.name,
    file: list.file,
    cniVersion: list.cniVersion,
    driver: main.type,
    bridge: typeof main.bridge === 'string' ? main.bridge : undefined,
    subnets,
    internal: !hasDefaultRoute && !masq,
    dnsEnabled: hasDnsname(list),
    plugins: list.plugins.map((p) => p.type),
  };
}

export interface DefaultNetworkOptions {
  name?: string;
  bridge?: string;
  subnet?: string;
  ipamDataDir?: string;
}

/**
 * Makes sure the default network exists in confDir, writing its conflist if it does not,
 * kept off the host as `network create` is: a subnet set in the config must be free; the
 * built-in one gives way to the next free /16 (said at info level), the built-in bridge
 * name (berth0) to the next free berth<N>.
 */
export async function ensureDefaultNetwork(confDir: string, o: DefaultNetworkOptions = {}): Promise<NetworkConfigList> {
  const name = o.name ?? DEFAULT_NETWORK;
  const existing = (await loadNetworks(confDir)).networks.get(name);
  if (existing) return existing;
  try {
    return await writeDefaultNetwork(confDir, name, o);
  } catch (e) {
    // Another process wrote it first (and its bridge may already be up, looking like a
    // host network that takes the subnet): the first one written is the network.
    const written = (await loadNetworks(confDir)).networks.get(name);
    if (written) return written;
    throw e;
  }
}

async function writeDefaultNetwork(confDir: string, name: string, o: DefaultNetworkOptions): Promise<NetworkConfigList> {
  const { networks } = await loadNetworks(confDir);
  const host = await hostNetworks();
  // The configured bridge's own addresses and routes are the network's (its conflist was
  // removed, or a concurrent first use is bringing it up), not another system's.
  if (o.bridge) host.used = host.used.filter((u) => u.dev !== o.bridge);
  const taken = takenSubnets(networks, host);
  let subnet: Subnet;
  if (o.subnet) {
    subnet = freeSubnet(parseSubnet(o.subnet), taken);
  } else {
    const builtin = parseSubnet(DEFAULT_SUBNET);
    subnet = nextFreeSubnet(builtin, [...taken.map((t) => t.subnet), parseSubnet(CREATE_POOL)]);
    if (subnet.cidr !== builtin.cidr) {
      const clash = taken.find((t) => overlaps(t.subnet, builtin))!;
      log.info(`default network "${name}": subnet ${builtin.cidr} is already used on the host or by another config (${clash.what}); using ${subnet.cidr}`);
    }
  }
  const bridge = o.bridge ? checkBridge(o.bridge, host) : pickBridge(networks, host, 0);
  const list = bridgeNetwork({ name, bridge, subnet: subnet.cidr, ipamDataDir: o.ipamDataDir });
  await mkdir(confDir, { recursive: true });
  const file = join(confDir, name === DEFAULT_NETWORK ? DEFAULT_FILE : `${name}.conflist`);
  // Whole and exclusive: of two first uses at once, one writes it and the other reads it.
  const temp = tempPathFor(file);
  await writeFileAtomic(temp, serializeConfList(list));
  try {
    await link(temp, file);
  } finally {
    await rm(temp, { force: true });
  }
  return { ...list, file };
}

/** `from` or the first subnet of its size after it that overlaps nothing in `taken`. */
function nextFreeSubnet(from: Subnet, taken: Subnet[]): Subnet {
  for (let s: Subnet | undefined = from; s; s = nextSubnet(s)) if (!taken.some((t) => overlaps(t, s!))) return s;
  throw new BerthError('ResourceExhausted', `no free subnet after ${from.cidr}; set default_subnet in berth.toml`);
}

export interface CreateNetworkOptions {
  name: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  /** Bridge device; default berth<N>, the first that is neither a host interface nor another network's. */
  bridge?: string;
  /**
   * The instance's default bridge: other instances' networks may not be up yet (no host
   * interface to see), so an instance with its own default bridge names its networks'
   * bridges after it (bt12ab → bt12abn1 …) and two never share one. Default berth0: berth<N>.
   */
  defaultBridge?: string;
  ipamDataDir?: string;
  /** --disable-dns: false; names resolve by default, as on podman's user networks. */
  dns?: boolean;
}

/** Where a network's conflist records the bridge device berth made for it (deleted by `network rm`). */
interface BerthLabels {
  bridge?: string;
}

/** The host's interfaces, and the subnets its addresses and routes (main table, both families) use. */
async function hostNetworks(): Promise<{ links: Set<string>; used: { subnet: Subnet; what: string; dev?: string }[] }> {
  const links = new Set(await readdir('/sys/class/net').catch(() => [] as string[]));
  const used: { subnet: Subnet; what: string; dev?: string }[] = [];
  const ipJson = async (args: string[]) => JSON.parse((await execFileAsync('ip', ['-j', ...args], { timeout: 10_000 })).stdout || '[]') as unknown[];
  const add = (cidr: string, what: string, dev?: string) => {
    try {
      used.push({ subnet: parseSubnet(cidr), what, dev });
    } catch {
      // Not an address range (e.g. a multicast or unreachable keyword).
    }
  };
  for (const l of (await ipJson(['address', 'show'])) as { ifname: string; addr_info?: { local: string; prefixlen: number; scope?: string }[] }[]) {
    for (const a of l.addr_info ?? []) if (a.scope !== 'link') add(`${a.local}/${a.prefixlen}`, `address ${a.local}/${a.prefixlen} on ${l.ifname}`, l.ifname);
  }
  for (const family of ['-4', '-6']) {
    for (const r of (await ipJson([family, 'route', 'show'])) as { dst: string; dev?: string }[]) {
      if (r.dst === 'default' || r.dst.startsWith('fe80:')) continue;
      const cidr = r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`;
      add(cidr, `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`, r.dev);
    }
  }
  return { links, used };
}

/**
 * `network create`: writes <confDir>/<name>.conflist. The subnet must not overlap another
 * network's, nor an address or route of the host (another manager's bridge, a VPN); the
 * bridge is one berth makes, unless it is named and already exists.
 */
export async function createNetwork(confDir: string, o: CreateNetworkOptions): Promise<NetworkInfo> {
  if (!isValidName(o.name, 64)) throw invalidArgument(`invalid network name "${o.name}"`);
  const { networks } = await loadNetworks(confDir);
  if (networks.has(o.name)) throw alreadyExists(`network ${o.name} already exists`);
  const host = await hostNetworks();
  const taken = takenSubnets(networks, host);
  let subnet: Subnet;
  if (o.subnet) {
    subnet = freeSubnet(parseSubnet(o.subnet), taken);
  } else {
    if (o.gateway) throw invalidArgument('--gateway needs --subnet');
    subnet = pickSubnet(taken.map((t) => t.subnet));
  }
  const bridge = o.bridge ? checkBridge(o.bridge, host) : pickBridge(networks, host, 1, userBridgePrefix(o.defaultBridge));
  // A bridge that was not there is one berth makes (and `network rm` deletes).
  const labels: BerthLabels = host.links.has(bridge) ? {} : { bridge };
  const list: NetworkConfigList = {
    ...bridgeNetwork({ name: o.name, bridge, subnet: subnet.cidr, gateway: o.gateway, internal: o.internal, ipamDataDir: o.ipamDataDir, dns: o.dns ?? true }),
    berth: labels,
  };
  await mkdir(confDir, { recursive: true });
  const file = join(confDir, `${o.name}.conflist`);
  await writeFileAtomic(file, serializeConfList(list));
  return describeNetwork({ ...list, file });
}

type HostNetworks = Awaited<ReturnType<typeof hostNetworks>>;

/** The subnets other networks of the conf dir (the valid ones) and the host's addresses and routes use. */
function takenSubnets(networks: Map<string, NetworkConfigList>, host: HostNetworks): { subnet: Subnet; what: string }[] {
  const infos = [...networks.values()].map(describeNetwork);
  const valid = (cidr: string) => {
    try {
      return [parseSubnet(cidr)];
    } catch {
      return []; // a broken network takes no addresses
    }
  };
  return [...infos.flatMap((i) => i.subnets.flatMap((s) => valid(s.subnet).map((subnet) => ({ subnet, what: `network ${i.name}` })))), ...host.used];
}

/** Returns subnet when nothing in taken overlaps it (docker's and podman's wording otherwise). */
function freeSubnet(subnet: Subnet, taken: { subnet: Subnet; what: string }[]): Subnet {
  const clash = taken.find((t) => overlaps(t.subnet, subnet));
  if (clash) throw alreadyExists(`subnet ${subnet.cidr} is already used on the host or by another config (${clash.what})`);
  return subnet;
}

/** A bridge named by the user: a host interface by that name must be a bridge. */
function checkBridge(bridge: string, host: HostNetworks): string {
  if (host.links.has(bridge) && !existsSync(`/sys/class/net/${bridge}/bridge`)) throw invalidArgument(`${bridge} is a host interface, not a bridge`);
  if (bridge.length > 15) throw invalidArgument(`bridge name "${bridge}" is longer than 15 characters`);
  return bridge;
}

/** The first <prefix><N> from `from` on that is neither a host interface nor another network's bridge. */
function pickBridge(networks: Map<string, NetworkConfigList>, host: HostNetworks, from: number, prefix = 'berth'): string {
  const used = new Set([...networks.values()].map((n) => describeNetwork(n).bridge));
  for (let n = from; ; n++) if (!used.has(`${prefix}${n}`) && !host.links.has(`${prefix}${n}`)) return `${prefix}${n}`;
}

/** berth<N> for the default bridge berth0; <bridge>n<N> for an instance's own (IFNAMSIZ permitting). */
function userBridgePrefix(defaultBridge: string | undefined): string {
  return !defaultBridge || defaultBridge === 'berth0' || defaultBridge.length > 12 ? 'berth' : `${defaultBridge}n`;
}

function pickSubnet(taken: Subnet[]): Subnet {
  const [a, b] = CREATE_POOL.split('.');
  for (let i = 0; i < 256; i++) {
    const s = parseSubnet(`${a}.${b}.${i}.0/24`);
    if (!taken.some((t) => overlaps(t, s))) return s;
  }
  throw new BerthError('ResourceExhausted', `no free subnet left in ${CREATE_POOL}; pass --subnet`);
}

/** `network ls`: valid networks sorted by name, plus the files that could not be read. */
export async function listNetworks(confDir: string): Promise<{ networks: NetworkInfo[]; invalid: { file: string; error: string }[] }> {
  const { networks, invalid } = await loadNetworks(confDir);
  return { networks: [...networks.values()].map(describeNetwork).sort((a, b) => a.name.localeCompare(b.name)), invalid };
}

/** `network inspect`: the summary and the configuration itself. */
export async function inspectNetwork(confDir: string, name: string): Promise<{ info: NetworkInfo; config: NetworkConfigList }> {
  const { networks } = await loadNetworks(confDir);
  const config = networks.get(name);
  if (!config) throw notFound(`no such network: ${name}`);
  return { info: describeNetwork(config), config };
}

/**
 * `network rm`: removes the conflist, what the dnsname plugin left for it under dnsDir
 * (the XDG_RUNTIME_DIR its plugins get), and the bridge device when berth made it for this
 * network (its label says so) and no other network uses it. `inUse` lists the containers attached (the caller knows; the CNI cache knows too):
 * a network in use is not removed.
 */
export async function removeNetwork(confDir: string, name: string, inUse: string[], dnsDir: string): Promise<void> {
  const { networks } = await loadNetworks(confDir);
  const config = networks.get(name);
  if (!config) throw notFound(`no such network: ${name}`);
  if (inUse.length > 0) throw failedPrecondition(`network ${name} is in use by container(s) ${inUse.join(', ')}`);
  if (!config.file) throw failedPrecondition(`network ${name} has no file`);
  await rm(config.file, { force: true });
  const info = describeNetwork(config);
  if (info.dnsEnabled) await removeDnsname(dnsDir, name, info.bridge);
  const shared = [...networks.values()].some((n) => n.name !== name && describeNetwork(n).bridge === info.bridge);
  const made = (config.berth as BerthLabels | undefined)?.bridge;
  if (info.driver === 'bridge' && info.bridge && made === info.bridge && !shared) {
    await execFileAsync('ip', ['link', 'del', info.bridge]).catch(() => undefined); // absent until first use
  }
}
