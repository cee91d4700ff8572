// Network setup + teardown per container, berth against podman on its CNI backend, measured
// in the same run on the same image and the same CNI plugin chain:
//   run --rm --network NET IMAGE true     (a bridge network of the subject's own)
//   run --rm --network none IMAGE true
// alternating, N runs each; the network's cost is the difference of the two medians.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, listMounts, newInstance, unmountUnder, type Instance } from '../test/helpers/index.js';
import { IMAGE, buildArchive, fmt, median, removeWorkDir, sh, timed, watchHostDirs } from './common.js';
import { PODMAN_HOST_DIRS, Podman } from './podman.js';

/** berth's default network: the instance's own bridge and subnet (its berth.toml). */
const BERTH_NETWORK = 'berth';
const NETNS_DIR = '/run/netns';

interface Options {
  runs: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench/network [--runs N (20)]');
    process.exit(0);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error('network: --runs must be >= 1');
    process.exit(2);
  }
  return { runs };
}

/** Like sh, but a failure is of no concern (clean-up of what may not exist). */
function tryRun(file: string, args: string[]): boolean {
  const r = spawnSync(file, args, { stdio: 'ignore' });
  return r.status === 0;
}

/** The first three octets of a /24 ("10.1.2.0/24" → "10.1.2."): what every address in it starts with. */
function prefix24(subnet: string): string {
  return subnet.slice(0, subnet.lastIndexOf('.') + 1);
}

/** A bridge name and a /24 that no link or route on this host uses, and not avoid. */
function freeNetwork(avoid: string): { bridge: string; subnet: string } {
  const links = sh('ip', ['-o', 'link', 'show']);
  const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let n = 0; n < 256; n++) {
    const bridge = `bnp${process.pid % 100000}x${n}`;
    // 10.250-253.x: beside the test instances' 10.40-239 range.
    const slot = (process.pid + n * 37) % (4 * 256);
    const subnet = `10.${250 + (slot >> 8)}.${slot & 255}.0/24`;
    const net = prefix24(subnet);
    if (links.includes(`: ${bridge}:`) || routes.includes(net) || subnet === avoid) continue;
    return { bridge, subnet };
  }
  throw new Error('no free bridge name and subnet for podman');
}

/** podman on its CNI backend, with its network config in dir too. */
class CniPodman extends Podman {
  readonly network = `bench-net-${process.pid}`;
  readonly networkDir: string;

  constructor(dir: string, readonly bridge: string, readonly subnet: string) {
    const networkDir = join(dir, 'cni');
    super(dir, {
      conf: `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${networkDir}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n`,
      args: ['--network-backend', 'cni'],
    });
    this.networkDir = networkDir;
    mkdirSync(networkDir);
  }

  /**
   * Writes podman's network: the plugin chain of berth's conflist (the same work for
   * both), on podman's own bridge and subnet, with host-local's leases kept in dir.
   */
  writeNetwork(berthConfList: string): string[] {
    const list = JSON.parse(readFileSync(berthConfList, 'utf8')) as { name: string; plugins: Record<string, unknown>[] };
    const main = list.plugins[0];
    if (main?.type !== 'bridge') throw new Error(`${berthConfList}: expected a bridge network, found ${String(main?.type)}`);
    const gateway = `${prefix24(this.subnet)}1`;
    main.bridge = this.bridge;
    main.ipam = { ...(main.ipam as object), ranges: [[{ subnet: this.subnet, gateway }]], dataDir: join(this.dir, 'ipam') };
    list.name = this.network;
    writeFileSync(join(this.networkDir, `${this.network}.conflist`), JSON.stringify(list, null, 2));
    return list.plugins.map((p) => String(p.type));
  }
}

/** A container manager under test. */
interface Subject {
  name: string;
  /** The bridge network it runs containers on. */
  network: string;
  subnet: string;
  run(args: string[]): string;
  time(args: string[]): number;
}

function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** A rule of `iptables -S` as arguments: "quoted words" (with \" inside) are one argument. */
function ruleArgs(rule: string): string[] {
  return rule.match(/"(?:[^"\\]|\\.)*"|\S+/g)!.map((a) => (a.startsWith('"') ? a.slice(1, -1).replace(/\\(.)/g, '$1') : a));
}

/**
 * Removes what a failed run may leave of the networks: iptables rules naming an address
 * in one of the subnets (and the per-container chains they jump to), namespaces in
 * /run/netns that were not there before, and the bridges (the bridge plugin never removes
 * them). Returns what it had to remove besides the bridges: after a clean run, nothing.
 */
function sweepNetworks(subnets: string[], bridges: string[], netnsBefore: string[]): string[] {
  const removed: string[] = [];
  const prefixes = subnets.map(prefix24);
  for (const table of ['nat', 'filter']) {
    let rules: string[];
    try {
      rules = sh('iptables', ['-w', '-t', table, '-S']).split('\n');
    } catch {
      continue;
    }
    const chains = new Set<string>();
    for (const rule of rules.filter((r) => r.startsWith('-A ') && prefixes.some((p) => r.includes(p)))) {
      // The per-container chains: the bridge plugin's CNI-<hash>, in or jumped to.
      for (const m of rule.matchAll(/(?:^-A|-j) (CNI-[0-9a-f]+)\b/g)) chains.add(m[1]);
      if (tryRun('iptables', ['-w', '-t', table, '-D', ...ruleArgs(rule.slice(3))])) removed.push(`iptables -t ${table} ${rule}`);
    }
    for (const chain of chains) {
      tryRun('iptables', ['-w', '-t', table, '-F', chain]);
      if (tryRun('iptables', ['-w', '-t', table, '-X', chain])) removed.push(`iptables -t ${table} chain ${chain}`);
    }
  }
  for (const ns of listNetns().filter((n) => !netnsBefore.includes(n))) {
    if (tryRun('ip', ['netns', 'delete', ns])) removed.push(`netns ${ns}`);
  }
  for (const bridge of bridges) tryRun('ip', ['link', 'del', bridge]);
  return removed;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const removeNewHostDirs = watchHostDirs([...PODMAN_HOST_DIRS, '/var/lib/cni', NETNS_DIR]);
  const netnsMountedBefore = listMounts().some((m) => m.mountPoint === NETNS_DIR);
  const netnsBefore = listNetns();
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  let berth: Instance | undefined;
  let podman: CniPodman | undefined;
  try {
    const archive = buildArchive(dir);
    const b = (berth = await newInstance());
    const pn = freeNetwork(b.subnet);
    const p = (podman = new CniPodman(join(dir, 'podman'), pn.bridge, pn.subnet));
    const subjects: Subject[] = [
      {
        name: 'berth',
        network: BERTH_NETWORK,
        subnet: b.subnet,
        run: (args) => sh(BERTH, args, { env: b.env }),
        time: (args) => timed(BERTH, args, { env: b.env }),
      },
      { name: 'podman', network: p.network, subnet: p.subnet, run: (a) => p.run(a), time: (a) => p.time(a) },
    ];

    let plugins: string[] = [];
    for (const s of subjects) {
      s.run(['load', '-q', '-i', archive]);
      // podman's network copies the plugin chain of berth's, written on berth's first run.
      if (s.name === 'podman') plugins = p.writeNetwork(join(b.base, 'cni', '87-berth.conflist'));
      // Warm-up runs, which also show that the container really gets an address in the subnet.
      const addrs = s.run(['run', '--rm', '--network', s.network, IMAGE, 'ip', '-4', '-o', 'addr', 'show']);
      if (!addrs.includes(` ${prefix24(s.subnet)}`)) throw new Error(`${s.name}: no address in ${s.subnet} in the container:\n${addrs}`);
      s.run(['run', '--rm', '--network', 'none', IMAGE, 'true']);
    }
    console.log(`network: ${opts.runs} runs each, plugins ${plugins.join(', ')}`);
    for (const s of subjects) console.log(`  ${s.name.padEnd(7)} --network ${s.network} (${s.subnet})`);

    const modes = ['net', 'none'] as const;
    const times = new Map(subjects.flatMap((s) => modes.map((m) => [`${s.name} ${m}`, [] as number[]])));
    for (let i = 0; i < opts.runs; i++) {
      for (const m of modes) {
        for (const s of subjects) {
          const network = m === 'net' ? s.network : 'none';
          times.get(`${s.name} ${m}`)!.push(s.time(['run', '--rm', '--network', network, IMAGE, 'true']));
        }
      }
    }

    const med = (s: Subject, m: (typeof modes)[number]) => median(times.get(`${s.name} ${m}`)!);
    console.log(`\nmedian of ${opts.runs}`.padEnd(33) + subjects.map((s) => s.name.padStart(10)).join('') + '  berth/podman');
    const row = (label: string, values: number[]) =>
      console.log(label.padEnd(32) + values.map(fmt).join('') + `  ${(values[0] / values[1]).toFixed(2)}`);
    row('run --rm --network NET true', subjects.map((s) => med(s, 'net')));
    row('run --rm --network none true', subjects.map((s) => med(s, 'none')));
    row('network setup + teardown', subjects.map((s) => med(s, 'net') - med(s, 'none')));
  } finally {
    await berth?.cleanup();
    podman?.cleanup();
    await removeWorkDir(dir);
    const subnets = [berth?.subnet, podman?.subnet].filter((s): s is string => !!s);
    const bridges = [berth?.bridge, podman?.bridge].filter((s): s is string => !!s);
    const leftovers = sweepNetworks(subnets, bridges, netnsBefore);
    for (const l of leftovers) console.error(`network: removed a leftover: ${l}`);
    if (leftovers.length) process.exitCode = 1;
    // podman makes /run/netns a mount of its own, as `ip netns add` does.
    if (!netnsMountedBefore && listNetns().length === 0) unmountUnder(NETNS_DIR);
    removeNewHostDirs();
  }
}

main().catch((e: Error) => {
  console.error(`network: ${e.message}`);
  process.exitCode = 1;
});
