// What the container manager calls: give a container a netns attached to its networks
// (setup), read back what it got (status), take it all down (teardown), and clean up
// after owners that are gone (sweep).
import { existsSync } from 'node:fs';
import { BerthError, invalidArgument } from '../errors/index.js';
import { log } from '../log/index.js';
import { parkPoint } from '../sys/index.js';
import type { CachedAttachment } from './cni/cache.js';
import { CniRunner, type CallOptions } from './cni/runner.js';
import type { NetworkConfigList } from './cni/config.js';
import { summarize, type AttachmentSummary, type CniDns } from './cni/result.js';
import { hasDnsname, withDnsnameArgs } from './dnsname.js';
import { createNetns, listNetns, netnsPath, removeNetns } from './netns.js';
import { DEFAULT_NETWORK, ensureDefaultNetwork, type DefaultNetworkOptions } from './networks.js';
import { assignHostPorts, checkAllocated, checkConflicts, hostListeners, lockHostPorts, toCniPortMappings, type PortMapping, type TakenPort } from './ports.js';

/** CNI_ARGS with host-local's IP=<address> added when one is asked for. */
function withStaticIp(args: [string, string][] | undefined, ip: string | undefined): [string, string][] | undefined {
  if (!ip) return args;
  const rest = (args ?? []).filter(([k]) => k !== 'IgnoreUnknown' && k !== 'IP');
  // The other plugins of the chain do not know IP: IgnoreUnknown keeps them from refusing it.
  return [['IgnoreUnknown', '1'], ...rest, ['IP', ip]];
}

/** Sweeps retry a failed DEL this often in all (quietly: the first failure was reported). */
const SWEEP_ATTEMPTS = 3;

export interface NetworkManagerOptions {
  /** CNI conf dir (default /etc/cni/net.d). */
  confDir?: string;
  /** Plugin search path (default /opt/cni/bin, /usr/lib/cni). */
  pluginDirs?: string[];
  /** Attachment records: persistent, e.g. <root>/cni. */
  cacheDir: string;
  /** Namespaces: <runRoot>/netns. */
  netnsDir: string;
  /** Per plugin call. */
  timeoutMs?: number;
  /** The network used when a container names none; written on first use if absent. */
  defaultNetwork?: DefaultNetworkOptions;
  /**
   * XDG_RUNTIME_DIR for the plugins: the dnsname plugin keeps its dnsmasq files below it
   * (<runRoot>/dnsname). Required: without it the plugin would use the host-wide
   * /run/containers/cni/dnsname, shared with podman and every other instance.
   */
  dnsDir: string;
}

export interface NetworkRequest {
  /** Networks to join, in order (eth0, eth1 …); default: the default network. */
  networks?: string[];
  /** Published ports (hostPort 0 = pick one); applied on the first network. */
  portMappings?: PortMapping[];
  /** Per-network extras through runtimeConfig (for plugins that declare them). */
  mac?: string;
  ips?: string[];
  bandwidth?: { ingressRate?: number; ingressBurst?: number; egressRate?: number; egressBurst?: number };
  cniArgs?: [string, string][];
  /** An address asked for on a network (host-local's CNI_ARGS IP), by network name. */
  staticIps?: Record<string, string>;
  /** networks is the whole list: empty means a netns attached to none (not the default network). */
  exact?: boolean;
  /** With no networks: the first network in the conf dir by file name (as CRI runtimes choose), else the default network. */
  firstConfigured?: boolean;
  /** The container's name: what the others on a network with names (dnsname) resolve. */
  name?: string;
  /** More names for it on those networks (--network-alias). */
  aliases?: string[];
  /** Names on one network only (network connect --alias), by network name. */
  networkAliases?: Record<string, string[]>;
}

export interface NetworkAttachment extends AttachmentSummary {
  network: string;
  /** The network's main plugin (bridge, macvlan …). */
  driver?: string;
  /** The network resolves its containers' names (dnsname): its DNS server answers only for those. */
  dnsname?: boolean;
  dns?: CniDns;
}

export interface NetworkStatus {
  netns: string;
  attachments: NetworkAttachment[];
  /** The published ports with the host ports actually used. */
  portMappings: PortMapping[];
}

export class NetworkManager {
  readonly runner: CniRunner;
  readonly netnsDir: string;
  readonly dnsDir: string;
  private readonly defaults: DefaultNetworkOptions;

  constructor(o: NetworkManagerOptions) {
    this.dnsDir = o.dnsDir;
    this.runner = new CniRunner({
      confDir: o.confDir, pluginDirs: o.pluginDirs, cacheDir: o.cacheDir, timeoutMs: o.timeoutMs,
      env: { XDG_RUNTIME_DIR: o.dnsDir },
    });
    this.netnsDir = o.netnsDir;
    this.defaults = o.defaultNetwork ?? {};
  }

  /** The networks configured in the conf dir, and the files there that do not parse. */
  async configured(): Promise<{ confDir: string; networks: string[]; invalid: { file: string; error: string }[] }> {
    const { networks, invalid } = await this.runner.loadNetworks();
    return { confDir: this.runner.confDir, networks: [...networks.keys()], invalid };
  }

  get defaultNetworkName(): string {
    return this.defaults.name ?? DEFAULT_NETWORK;
  }

  /**
   * Creates the container's netns (lo comes up with it, without the loopback plugin: two
   * plugin runs fewer per container) and attaches it to each network. On any
   * failure everything done so far is undone and the error is rethrown.
   */
  async setup(containerId: string, req: NetworkRequest = {}, o: CallOptions = {}): Promise<NetworkStatus> {
    const names = req.networks && (req.networks.length > 0 || req.exact) ? req.networks : [this.defaultNetworkName];
    if (new Set(names).size !== names.length) throw new BerthError('InvalidArgument', `a network is listed twice: ${names.join(', ')}`);
    const lists = [];
    if (req.firstConfigured && !req.networks?.length) lists.push(await this.firstConfigured());
    else for (const name of names) lists.push(await this.network(name));
    if (req.ips?.length) {
      if (lists.length > 1) throw invalidArgument('--ip can only be set for a single network');
      if (!lists[0]!.plugins.some((p) => p.capabilities?.ips)) throw invalidArgument(`network ${lists[0]!.name} does not take a static address: none of its plugins declares the CNI "ips" capability`);
    }
    const requested = req.portMappings ?? [];
    checkConflicts(requested);
    let portMappings: PortMapping[] = [];
    // Checked and claimed under one lock: the claim is the eth0 record, written as its first
    // plugin starts; two setups never both see a port free.
    const unlock = requested.length > 0 ? await lockHostPorts(this.runner.cache.dir) : () => undefined;
    let netns: string;
    try {
      if (requested.length > 0) {
        const taken = [...this.publishedPorts(await this.runner.cache.list(), containerId), ...(await hostListeners())];
        checkAllocated(requested, taken);
        portMappings = await assignHostPorts(requested, taken);
        await parkPoint('host-ports-checked');
      }
      netns = await createNetns(this.netnsDir, containerId);
    } catch (e) {
      unlock();
      throw e;
    }
    const status: NetworkStatus = { netns, attachments: [], portMappings };
    try {
      for (const [i, list] of lists.entries()) {
        const ifName = `eth${i}`;
        const capabilityArgs: Record<string, unknown> = {};
        if (i === 0 && portMappings.length > 0) capabilityArgs.portMappings = toCniPortMappings(portMappings);
        if (i === 0 && req.mac) capabilityArgs.mac = req.mac;
        if (i === 0 && req.ips?.length) capabilityArgs.ips = req.ips;
        if (req.bandwidth) capabilityArgs.bandwidth = req.bandwidth;
        const names = { name: req.name, aliases: [...(req.aliases ?? []), ...(req.networkAliases?.[list.name] ?? [])], containerId: req.name ? containerId : undefined };
        const args = withDnsnameArgs(list, withStaticIp(req.cniArgs, req.staticIps?.[list.name]) ?? [], capabilityArgs, names);
        const result = await this.runner.add(list, { containerId, netns, ifName, args, capabilityArgs }, { ...o, onRecorded: unlock });
        status.attachments.push({ network: list.name, driver: list.plugins[0]?.type, dnsname: hasDnsname(list), ...summarize(result, ifName), dns: result.dns });
      }
      unlock();
    } catch (e) {
      unlock();
      await this.teardown(containerId).catch((e2) => {
        log.debug('cleanup after a failed network setup failed; a later sweep retries', { container: containerId, error: (e2 as Error).message });
      });
      throw e;
    }
    return status;
  }

  /** The first network in the conf dir by file name; with none there, the default network. */
  private async firstConfigured(): Promise<NetworkConfigList> {
    const first = (await this.runner.loadNetworks()).networks.values().next();
    return first.done ? this.network(this.defaultNetworkName) : first.value;
  }

  /** A network's configuration; the default network is written on first use. */
  network(name: string): Promise<NetworkConfigList> {
    return name === this.defaultNetworkName ? ensureDefaultNetwork(this.runner.confDir, { ...this.defaults, name }) : this.runner.getNetwork(name);
  }

  /**
   * Attaches the netns of a container set up already to one more network, on the first
   * interface name free (eth0, eth1 …, as podman picks them). A failed ADD is undone by
   * the runner. Returns what the container has now.
   */
  async connect(containerId: string, name: string, req: { ip?: string; cniArgs?: [string, string][]; name?: string; aliases?: string[] } = {}, o: CallOptions = {}): Promise<NetworkStatus> {
    const list = await this.network(name);
    const netns = netnsPath(this.netnsDir, containerId);
    if (!existsSync(netns)) throw new BerthError('FailedPrecondition', `container ${containerId} has no network namespace to connect`);
    const taken = new Set((await this.runner.cache.list()).filter((e) => e.containerId === containerId).map((e) => e.ifName));
    let i = 0;
    while (taken.has(`eth${i}`)) i++;
    const capabilityArgs = {};
    const names = { name: req.name, aliases: req.aliases, containerId: req.name ? containerId : undefined };
    const args = withDnsnameArgs(list, withStaticIp(req.cniArgs, req.ip) ?? [], capabilityArgs, names);
    await this.runner.add(list, { containerId, netns, ifName: `eth${i}`, args, capabilityArgs }, o);
    return (await this.status(containerId))!;
  }

  /**
   * Detaches a container from one network (DEL with the recorded config: the IP goes back
   * to the pool, the veth and rules go). With force a failed DEL is left to the sweep and
   * `prune` instead of failing. Returns what the container has now.
   */
  async disconnect(containerId: string, name: string, o: CallOptions & { force?: boolean } = {}): Promise<NetworkStatus | undefined> {
    const netns = netnsPath(this.netnsDir, containerId);
    for (const e of (await this.runner.cache.list()).filter((e) => e.containerId === containerId && e.networkName === name && !e.failed)) {
      try {
        await this.runner.del(name, { containerId, ifName: e.ifName, netns: existsSync(netns) ? netns : '' }, o);
      } catch (err) {
        await this.runner.markFailed(e, err as Error).catch(() => undefined);
        if (!o.force) throw err;
        log.warn('network disconnect: DEL failed; `berth system prune` retries it', { container: containerId, network: name, error: (err as Error).message });
      }
    }
    return this.status(containerId);
  }

  /** Host ports the records of other containers publish (a failed teardown may still hold its DNAT rules). */
  private publishedPorts(records: CachedAttachment[], self: string): TakenPort[] {
    return records.filter((r) => r.containerId !== self && r.ifName === 'eth0').flatMap((r) => {
      const maps = (r.capabilityArgs.portMappings ?? []) as { hostIP?: string; hostPort: number; protocol: PortMapping['protocol'] }[];
      const holder = r.failed ? `the failed network teardown of container ${r.containerId.slice(0, 12)}; \`berth system prune\` clears it` : `container ${r.containerId.slice(0, 12)}`;
      return maps.map((m) => ({ hostIP: m.hostIP ?? '', hostPort: m.hostPort, protocol: m.protocol, holder }));
    });
  }

  /** Containers attached to a network, from the records (for `network rm`'s in-use check). */
  async containersOn(network: string): Promise<string[]> {
    const ids = (await this.runner.cache.list()).filter((e) => e.networkName === network && !e.failed).map((e) => e.containerId);
    return [...new Set(ids)].sort();
  }

  /** What the container got, from the attachment records (undefined when it has no netns). */
  async status(containerId: string): Promise<NetworkStatus | undefined> {
    const entries = (await this.runner.cache.list()).filter((e) => e.containerId === containerId && e.ifName !== 'lo' && !e.failed);
    const netns = netnsPath(this.netnsDir, containerId);
    if (entries.length === 0 && !existsSync(netns)) return undefined;
    entries.sort((a, b) => a.ifName.localeCompare(b.ifName, undefined, { numeric: true }));
    const attachments = entries.map((e) => ({ network: e.networkName, driver: e.config.plugins[0]?.type, dnsname: hasDnsname(e.config), ...summarize(e.result, e.ifName), dns: e.result?.dns }));
    const first = entries.find((e) => e.ifName === 'eth0');
    const raw = (first?.capabilityArgs.portMappings ?? []) as { hostIP?: string; hostPort: number; containerPort: number; protocol: PortMapping['protocol'] }[];
    const portMappings = raw.map((m) => ({ hostIP: m.hostIP ?? '', hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol }));
    return { netns, attachments, portMappings };
  }

  /**
   * Detaches from every network (DEL with the recorded config, newest first) and removes
   * the netns. Safe to repeat. The netns is berth's own and goes even when a DEL fails (the
   * interfaces in it go with it); a failed record is marked as such and left to the sweep's
   * few quiet retries and to `prune`, so a DEL that can never succeed does not stick to
   * every later command. The error says what failed.
   */
  async teardown(containerId: string, o: CallOptions = {}): Promise<void> {
    const entries = (await this.runner.cache.list()).filter((e) => e.containerId === containerId && !e.failed);
    const failures = await this.detach(containerId, entries, o);
    if (failures.length > 0) throw new BerthError('Internal', `network teardown of ${containerId}: ${failures.map((f) => f.error).join('; ')}`);
  }

  /** DELs the given records of containerId, removes its netns; returns what failed. */
  private async detach(containerId: string, entries: CachedAttachment[], o: CallOptions): Promise<{ error: string; first: boolean }[]> {
    entries.sort((a, b) => (a.ifName === 'lo' ? 1 : 0) - (b.ifName === 'lo' ? 1 : 0) || b.ifName.localeCompare(a.ifName, undefined, { numeric: true }));
    const netns = netnsPath(this.netnsDir, containerId);
    const failures: { error: string; first: boolean }[] = [];
    for (const e of entries) {
      try {
        await this.runner.del(e.networkName, { containerId, ifName: e.ifName, netns: existsSync(netns) ? netns : '' }, o);
      } catch (err) {
        failures.push({ error: (err as Error).message, first: !e.failed });
        await this.runner.markFailed(e, err as Error).catch(() => undefined);
      }
    }
    await removeNetns(netns);
    return failures;
  }

  /**
   * Tears down the networking of every owner that is gone: records and netns files whose
   * id `isAlive` denies. Returns the ids cleaned. A failure is reported once; the record is
   * retried quietly by the next few sweeps, then left to `prune`.
   */
  async sweep(isAlive: (id: string) => boolean | Promise<boolean>, o: CallOptions = {}): Promise<string[]> {
    const retry = (e: CachedAttachment) => !e.failed || (e.failed.attempts ?? 1) < SWEEP_ATTEMPTS;
    const records = (await this.runner.cache.list()).filter(retry);
    const ids = new Set([...records.map((e) => e.containerId), ...(await listNetns(this.netnsDir))]);
    const swept: string[] = [];
    for (const id of [...ids].sort()) {
      if (await isAlive(id)) continue;
      const failures = await this.detach(id, records.filter((e) => e.containerId === id), o).catch((e: Error) => [{ error: e.message, first: true }]);
      if (failures.length === 0) swept.push(id);
      else (failures.some((f) => f.first) ? log.warn : log.debug)('network sweep: teardown failed; `berth system prune` clears it', { container: id, error: failures.map((f) => f.error).join('; ') });
    }
    return swept;
  }

  /**
   * Ends the attachments whose DEL failed: one more DEL with the recorded configuration,
   * and with the network's current one when it differs (a fixed conflist); the record goes
   * either way. Returns what was dropped, with the error when no DEL succeeded.
   */
  async prune(o: CallOptions = {}): Promise<{ network: string; containerId: string; ifName: string; error?: string }[]> {
    const out = [];
    for (const e of (await this.runner.cache.list()).filter((e) => e.failed)) {
      const error = await this.runner.dropFailed(e, o);
      out.push({ network: e.networkName, containerId: e.containerId, ifName: e.ifName, ...(error ? { error } : {}) });
    }
    return out;
  }
}
