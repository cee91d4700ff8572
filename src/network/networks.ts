// Networks as conflists in the conf dir: the default bridge network and what
// `network ls|create|inspect|rm` need.
import { execFile } from 'node:child_process';
import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isValidName } from '../config/index.js';
import { BerthError, alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors/index.js';
import { contains, firstHost, hostRoutes, overlaps, parseSubnet, type Subnet } from './cidr.js';
import { loadNetworks, serializeConfList, type NetworkConfigList, type PluginConf } from './cni/config.js';
import { writeFileAtomic } from '../sys/index.js';

const execFileP = promisify(execFile);

export const DEFAULT_NETWORK = 'berth';
const DEFAULT_BRIDGE = 'berth0';
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
    { type: 'bridge', bridge: o.bridge, isGateway: !o.internal, ipMasq: !o.internal, hairpinMode: true, ipam },
    { type: 'portmap', capabilities: { portMappings: true } },
    { type: 'firewall' },
    { type: 'tuning' },
  ];
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
    plugins: list.plugins.map((p) => p.type),
  };
}

export interface DefaultNetworkOptions {
  name?: string;
  bridge?: string;
  subnet?: string;
  ipamDataDir?: string;
}

/** Makes sure the default network exists in confDir, writing its conflist if it does not. */
export async function ensureDefaultNetwork(confDir: string, o: DefaultNetworkOptions = {}): Promise<NetworkConfigList> {
  const name = o.name ?? DEFAULT_NETWORK;
  const { networks } = await loadNetworks(confDir);
  const existing = networks.get(name);
  if (existing) return existing;
  const list = bridgeNetwork({ name, bridge: o.bridge ?? DEFAULT_BRIDGE, subnet: o.subnet ?? DEFAULT_SUBNET, ipamDataDir: o.ipamDataDir });
  await mkdir(confDir, { recursive: true });
  const file = join(confDir, name === DEFAULT_NETWORK ? DEFAULT_FILE : `${name}.conflist`);
  await writeFileAtomic(file, serializeConfList(list));
  return { ...list, file };
}

export interface CreateNetworkOptions {
  name: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  /** Bridge device; default berth<N>, the first not used by another network. */
  bridge?: string;
  ipamDataDir?: string;
  /** Host routes to avoid when choosing a subnet (default: read /proc/net/route). */
  routesText?: string;
}

/** `network create`: writes <confDir>/<name>.conflist. */
export async function createNetwork(confDir: string, o: CreateNetworkOptions): Promise<NetworkInfo> {
  if (!isValidName(o.name, 64)) throw invalidArgument(`invalid network name "${o.name}"`);
  const { networks } = await loadNetworks(confDir);
  if (networks.has(o.name)) throw alreadyExists(`network ${o.name} already exists`);
  const infos = [...networks.values()].map(describeNetwork);
  const taken = infos.flatMap((i) => i.subnets.map((s) => parseSubnet(s.subnet)));
  let subnet: Subnet;
  if (o.subnet) {
    subnet = parseSubnet(o.subnet);
    const clash = infos.find((i) => i.subnets.some((s) => overlaps(parseSubnet(s.subnet), subnet)));
    if (clash) throw alreadyExists(`subnet ${subnet.cidr} overlaps network ${clash.name}`);
  } else {
    if (o.gateway) throw invalidArgument('--gateway needs --subnet');
    const routesText = o.routesText ?? (await readFile('/proc/net/route', 'utf8').catch(() => ''));
    subnet = pickSubnet([...taken, ...hostRoutes(routesText)]);
  }
  let bridge = o.bridge;
  if (!bridge) {
    const used = new Set(infos.map((i) => i.bridge));
    for (let n = 1; !bridge; n++) if (!used.has(`berth${n}`)) bridge = `berth${n}`;
  }
  if (bridge.length > 15) throw invalidArgument(`bridge name "${bridge}" is longer than 15 characters`);
  const list = bridgeNetwork({ name: o.name, bridge, subnet: subnet.cidr, gateway: o.gateway, internal: o.internal, ipamDataDir: o.ipamDataDir });
  await mkdir(confDir, { recursive: true });
  const file = join(confDir, `${o.name}.conflist`);
  await writeFileAtomic(file, serializeConfList(list));
  return describeNetwork({ ...list, file });
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
 * `network rm`: removes the conflist and the bridge device (when no other network uses
 * it). `inUse` lists the containers attached (the caller knows; the CNI cache knows too):
 * a network in use is not removed.
 */
export async function removeNetwork(confDir: string, name: string, inUse: string[] = []): Promise<void> {
  const { networks } = await loadNetworks(confDir);
  const config = networks.get(name);
  if (!config) throw notFound(`no such network: ${name}`);
  if (inUse.length > 0) throw failedPrecondition(`network ${name} is in use by container(s) ${inUse.join(', ')}`);
  if (!config.file) throw failedPrecondition(`network ${name} has no file`);
  await rm(config.file, { force: true });
  const info = describeNetwork(config);
  const shared = [...networks.values()].some((n) => n.name !== name && describeNetwork(n).bridge === info.bridge);
  if (info.driver === 'bridge' && info.bridge && !shared) {
    await execFileP('ip', ['link', 'del', info.bridge]).catch(() => undefined); // absent until first use
  }
}
