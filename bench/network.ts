// Network setup + teardown per container, berth against podman on its CNI backend, measured
// in the same run on the same image and the same CNI plugin chain:
//   run --rm --network NET IMAGE true     (a bridge network of the subject's own)
//   run --rm --network none IMAGE true
// alternating, N runs each; the network's cost is the difference of the two medians.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, killAndWait, listMounts, makeBusyboxRootfs, newInstance, processesUsing, unmountUnder, type Instance } from '../test/helpers/index.js';

const IMAGE = 'localhost/bench-busybox:latest';
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

/** Runs a command to completion; throws with its stderr when it fails. */
function sh(file: string, args: string[], o: SpawnSyncOptions = {}): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...o });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

/** Like sh, but a failure is of no concern (clean-up of what may not exist). */
function tryRun(file: string, args: string[]): boolean {
  const r = spawnSync(file, args, { stdio: 'ignore' });
  return r.status === 0;
}

/** Wall time of one command in milliseconds (the command must succeed). */
function timed(file: string, args: string[], o: SpawnSyncOptions = {}): number {
  const start = process.hrtime.bigint();
  sh(file, args, o);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The busybox image as a docker-archive, made with umoci (OCI layout) and skopeo. */
function buildArchive(dir: string): string {
  const rootfs = join(dir, 'rootfs');
  makeBusyboxRootfs(rootfs);
  const layout = join(dir, 'oci');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:bench`]);
  sh('umoci', ['insert', '--image', `${layout}:bench`, rootfs, '/']);
  sh('umoci', ['config', '--image', `${layout}:bench`, '--config.cmd', 'sh']);
  const archive = join(dir, 'busybox.tar');
  sh('skopeo', ['copy', '-q', `oci:${layout}:bench`, `docker-archive:${archive}:${IMAGE}`]);
  return archive;
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

/** podman on its CNI backend, with all of its state and its network config in dir. */
class Podman {
  readonly env: NodeJS.ProcessEnv;
  readonly networkDir: string;
  readonly network = `bench-net-${process.pid}`;
  private readonly globalArgs: string[];

  constructor(readonly dir: string, readonly bridge: string, readonly subnet: string) {
    mkdirSync(dir, { recursive: true });
    this.networkDir = join(dir, 'cni');
    mkdirSync(this.networkDir);
    const conf = join(dir, 'containers.conf');
    // crun 1.8 refuses this hybrid cgroup setup, hence runc; no systemd, hence cgroupfs
    // and a file event log; no default ulimits, since root here cannot raise hard limits.
    writeFileSync(
      conf,
      '[containers]\ndefault_ulimits = []\n\n' +
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n\n' +
        `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${this.networkDir}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n`,
    );
    this.env = { ...process.env, CONTAINERS_CONF: conf };
    this.globalArgs = [
      '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'),
      '--storage-driver', 'overlay', '--runtime-flag', `root=${join(dir, 'runc')}`, '--network-backend', 'cni',
    ];
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

  run(a: string[]): string {
    return sh('podman', [...this.globalArgs, ...a], { env: this.env });
  }

  time(a: string[]): number {
    return timed('podman', [...this.globalArgs, ...a], { env: this.env });
  }

  /** Ids of every container this podman made, from its event log. */
  containerIds(): string[] {
    try {
      const out = this.run(['events', '--stream=false', '--filter', 'type=container', '--filter', 'event=create', '--format', '{{.ID}}']);
      return out.split('\n').filter((id) => /^[0-9a-f]{64}$/.test(id));
    } catch {
      return [];
    }
  }

  cleanup(): void {
    for (const a of [['rm', '-af'], ['rmi', '-af']]) {
      try {
        this.run(a);
      } catch {
        // Best effort: the directory goes below anyway.
      }
    }
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

const CGROUP_ROOT = '/sys/fs/cgroup';
const PODMAN_CGROUP_PARENT = 'libpod_parent';

/**
 * With cgroupfs on cgroup v1, podman leaves each container's (empty) cgroup behind in every
 * controller: removes those of the given containers, and podman's parent cgroups if they
 * were not there before.
 */
function removePodmanCgroups(ids: string[], parentExisted: boolean): void {
  const controllers = readdirSync(CGROUP_ROOT).filter((c) => existsSync(join(CGROUP_ROOT, c, PODMAN_CGROUP_PARENT)));
  const names = [...ids.map((id) => `libpod-${id}`), ...(parentExisted ? [] : ['conmon', '.'])];
  for (const c of controllers) {
    for (const n of names) {
      try {
        rmdirSync(join(CGROUP_ROOT, c, PODMAN_CGROUP_PARENT, n));
      } catch {
        // Not there, or still in use (then not ours to remove).
      }
    }
  }
}

/** Host directories podman and the CNI plugins create on first use; removed again if we made them. */
const HOST_DIRS = ['/var/lib/containers', '/run/containers', '/run/libpod', '/run/runc', '/var/lib/cni', NETNS_DIR];

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`.padStart(10);
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
  const hostDirsBefore = HOST_DIRS.filter((d) => existsSync(d));
  const netnsMountedBefore = listMounts().some((m) => m.mountPoint === NETNS_DIR);
  const netnsBefore = listNetns();
  const podmanCgroupExisted = existsSync(join(CGROUP_ROOT, 'memory', PODMAN_CGROUP_PARENT));
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  let berth: Instance | undefined;
  let podman: Podman | undefined;
  try {
    const archive = buildArchive(dir);
    const b = (berth = await newInstance());
    const pn = freeNetwork(b.subnet);
    const p = (podman = new Podman(join(dir, 'podman'), pn.bridge, pn.subnet));
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
    const podmanIds = podman?.containerIds() ?? [];
    podman?.cleanup();
    removePodmanCgroups(podmanIds, podmanCgroupExisted);
    await killAndWait(processesUsing(dir).map((p) => p.pid));
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    const subnets = [berth?.subnet, podman?.subnet].filter((s): s is string => !!s);
    const bridges = [berth?.bridge, podman?.bridge].filter((s): s is string => !!s);
    const leftovers = sweepNetworks(subnets, bridges, netnsBefore);
    for (const l of leftovers) console.error(`network: removed a leftover: ${l}`);
    if (leftovers.length) process.exitCode = 1;
    // podman makes /run/netns a mount of its own, as `ip netns add` does.
    if (!netnsMountedBefore && listNetns().length === 0) unmountUnder(NETNS_DIR);
    for (const d of HOST_DIRS.filter((d) => !hostDirsBefore.includes(d))) removeIfOnlyEmptyDirs(d);
  }
}

/** Removes d if it holds nothing but empty directories, or, for the image cache, anything. */
function removeIfOnlyEmptyDirs(d: string): void {
  if (d === '/var/lib/containers') {
    const names = existsSync(d) ? readdirSync(d) : [];
    if (names.every((n) => n === 'cache')) rmSync(d, { recursive: true, force: true });
    return;
  }
  const prune = (p: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return false;
    }
    if (!names.every((n) => prune(join(p, n)))) return false;
    try {
      rmdirSync(p);
      return true;
    } catch {
      return false;
    }
  };
  prune(d);
}

main().catch((e: Error) => {
  console.error(`network: ${e.message}`);
  process.exitCode = 1;
});
