// Names on user networks through the CNI dnsname plugin: it keeps one dnsmasq per network
// that answers for the containers attached (name and aliases) on the bridge's gateway
// address and forwards other names to the host's servers. The plugin keeps its files
// (dnsmasq.conf, addnhosts, pidfile) under $XDG_RUNTIME_DIR/containers/cni/dnsname/<network>;
// berth gives it the instance's own XDG_RUNTIME_DIR so instances never share a dnsmasq.
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileAsync } from '../sys/index.js';
import type { NetworkConfigList, PluginConf } from './cni/config.js';

/** The search domain of user networks (podman's is dns.podman). */
export const DNS_DOMAIN = 'dns.berth';

/** The plugin's entry in a network's conflist, chained after the others as podman does. */
export function dnsnamePlugin(): PluginConf {
  return { type: 'dnsname', domainName: DNS_DOMAIN, capabilities: { aliases: true } };
}

/** Whether the network resolves container names (its chain has the dnsname plugin). */
export function hasDnsname(list: Pick<NetworkConfigList, 'plugins'>): boolean {
  return list.plugins.some((p) => p.type === 'dnsname');
}

/** What one attachment to `network` passes the plugin: the CNI_ARGS and the runtimeConfig values. */
export interface DnsnameArgs {
  args: [string, string][];
  capabilityArgs: Record<string, unknown>;
}

export interface DnsnameNames {
  /** The container's name. */
  name?: string;
  /** Its aliases on this network (--network-alias, or network connect --alias). */
  aliases?: string[];
  /** Its id: the short form (12 characters) is an alias too, as in podman and docker. */
  containerId?: string;
}

/**
 * The container's name (CNI_ARGS K8S_POD_NAME, which the plugin reads) and its aliases on
 * that network (runtimeConfig `aliases`, keyed by network name) for an attachment to
 * `list`; nothing for a network without the plugin.
 */
export function dnsnameArgs(list: Pick<NetworkConfigList, 'name' | 'plugins'>, o: DnsnameNames): DnsnameArgs {
  if (!hasDnsname(list)) return { args: [], capabilityArgs: {} };
  const { name } = o;
  const all = [...(o.aliases ?? []), ...(o.containerId ? [o.containerId.slice(0, 12)] : [])];
  const unique = [...new Set(all.filter((a) => a !== '' && a !== name))];
  return {
    args: name ? [['K8S_POD_NAME', name]] : [],
    capabilityArgs: unique.length > 0 ? { aliases: { [list.name]: unique } } : {},
  };
}

/**
 * An attachment's CNI_ARGS with the container's name added and its capabilityArgs with
 * the aliases (in place) when `list` has the plugin; IgnoreUnknown=1 is added with them,
 * since every plugin of the chain gets the same CNI_ARGS.
 */
export function withDnsnameArgs(list: Pick<NetworkConfigList, 'name' | 'plugins'>, cniArgs: [string, string][],
  capabilityArgs: Record<string, unknown>, o: DnsnameNames): [string, string][] {
  const extra = dnsnameArgs(list, o);
  Object.assign(capabilityArgs, extra.capabilityArgs);
  const args = [...cniArgs];
  if (extra.args.length > 0 && !args.some(([k]) => k === 'IgnoreUnknown')) args.unshift(['IgnoreUnknown', '1']);
  for (const [k, v] of extra.args) if (!args.some(([key]) => key === k)) args.push([k, v]);
  return args;
}

/** The plugin's directory for one network, under the XDG_RUNTIME_DIR berth gives it. */
export function dnsnameDir(runtimeDir: string, network: string): string {
  return join(runtimeDir, 'containers', 'cni', 'dnsname', network);
}

/** The rule the plugin adds so the containers reach dnsmasq: ACCEPT of DNS on the bridge. */
function dnsRule(bridge: string, proto: 'udp' | 'tcp'): string[] {
  return ['INPUT', '-i', bridge, '-p', proto, '-m', proto, '--dport', '53', '-j', 'ACCEPT'];
}

/**
 * Ends what the plugin left for a network: its dnsmasq (only a process whose command line
 * names this network's conf file: a reused pid is left alone), its files and its INPUT
 * rules on the bridge. The plugin stops dnsmasq itself when the last container leaves;
 * this is for `network rm` after a DEL that never ran (a crash) and for the rules, which
 * the plugin does not remove.
 */
export async function removeDnsname(runtimeDir: string, network: string, bridge?: string): Promise<void> {
  const dir = dnsnameDir(runtimeDir, network);
  const pid = Number((await readFile(join(dir, 'pidfile'), 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 0) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      // Gone.
    }
    if (cmdline.includes(join(dir, 'dnsmasq.conf'))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
  await rm(dir, { recursive: true, force: true });
  if (bridge) {
    for (const proto of ['udp', 'tcp'] as const) {
      // -C first: nothing to delete is the usual case.
      while (await execFileAsync('iptables', ['-w', '-C', ...dnsRule(bridge, proto)]).then(() => true, () => false)) {
        await execFileAsync('iptables', ['-w', '-D', ...dnsRule(bridge, proto)]);
      }
    }
  }
}
