// A prevResult for DEL when ADD's result was never recorded (berth died between a plugin's
// success and the record's write): the addresses the interface has in the netns, else the
// reservations host-local holds for the attachment. Plugins such as firewall undo only the
// addresses prevResult names, so without one their rules would stay.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileAsync } from '../../sys/index.js';
import { contains, parseSubnet } from '../cidr.js';
import type { CachedAttachment } from './cache.js';
import { versionAtLeast } from './config.js';
import type { CniResult } from './result.js';

const HOST_LOCAL_DIR = '/var/lib/cni/networks';

export async function rebuildResult(entry: CachedAttachment): Promise<CniResult | undefined> {
  let cidrs = entry.netns && existsSync(entry.netns) ? await addressesInNetns(entry.netns, entry.ifName) : [];
  if (cidrs.length === 0) cidrs = await hostLocalReservations(entry);
  if (cidrs.length === 0) return undefined;
  const versioned = !versionAtLeast(entry.config.cniVersion, '1.0.0'); // 0.4.0 results carry ips[].version
  return {
    cniVersion: entry.config.cniVersion,
    interfaces: [{ name: entry.ifName, ...(entry.netns ? { sandbox: entry.netns } : {}) }],
    ips: cidrs.map((address) => ({ address, interface: 0, ...(versioned ? { version: address.includes(':') ? '6' : '4' } : {}) })),
  };
}

async function addressesInNetns(netns: string, ifName: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('nsenter', [`--net=${netns}`, 'ip', '-j', 'address', 'show', 'dev', ifName], { timeout: 10_000 });
    const links = JSON.parse(stdout) as { addr_info?: { local?: string; prefixlen?: number; scope?: string }[] }[];
    return links.flatMap((l) => l.addr_info ?? []).filter((a) => a.local && a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
  } catch {
    return []; // no such interface, or the namespace is gone
  }
}

/** host-local keeps one file per address, named after it, holding "<containerId>\r\n<ifName>". */
async function hostLocalReservations(entry: CachedAttachment): Promise<string[]> {
  const out: string[] = [];
  for (const plugin of entry.config.plugins) {
    const ipam = plugin.ipam as { type?: string; dataDir?: string; subnet?: string; ranges?: { subnet?: string }[][] } | undefined;
    if (ipam?.type !== 'host-local') continue;
    const subnets = [...(ipam.ranges ?? []).flat().map((r) => r.subnet), ipam.subnet].flatMap((s) => {
      try {
        return typeof s === 'string' ? [parseSubnet(s)] : [];
      } catch {
        return [];
      }
    });
    const dir = join(ipam.dataDir ?? HOST_LOCAL_DIR, entry.networkName);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const text = await readFile(join(dir, name), 'utf8').catch(() => '');
      const [id, ifName] = text.split(/\r?\n/).map((s) => s.trim());
      if (id !== entry.containerId || (ifName && ifName !== entry.ifName)) continue;
      const subnet = subnets.find((s) => contains(s, name));
      if (subnet) out.push(`${name}/${subnet.bits}`);
      else if (/^[0-9.]+$/.test(name) || name.includes(':')) out.push(`${name}/${name.includes(':') ? 128 : 32}`);
    }
  }
  return out;
}
