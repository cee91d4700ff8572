// Finds what tests left behind on the host. Everything a test makes lives under a
// /tmp/berth-test-* directory, so "left behind" means: something still refers to one;
// network objects (bridges, veths, iptables rules) are told apart by the names and
// addresses the tests' networks use (netspace.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { listMounts, listProcesses, type ProcessInfo } from './host.js';
import { HOST_DEFAULT_SUBNETS, ipv4, isTestAddress, isTestBridgeName, parseCidr, type Cidr } from './netspace.js';

export const TEST_DIR_PREFIX = 'berth-test-';
const TMP = '/tmp';
const CGROUP_ROOT = '/sys/fs/cgroup';

function isTestPath(p: string): boolean {
  return p.startsWith(`${TMP}/${TEST_DIR_PREFIX}`);
}

/** Mounts at a test path, or overlays whose layers live in one. */
function leakedMounts(): string[] {
  return listMounts()
    .filter((m) => isTestPath(m.mountPoint) || (m.fsType === 'overlay' && m.superOptions.includes(`${TMP}/${TEST_DIR_PREFIX}`)))
    .map((m) => `mount: ${m.fsType} on ${m.mountPoint}`);
}

/** conmon, runc, containers and anything else still using a test directory. */
function testProcesses(): { p: ProcessInfo; arg?: string }[] {
  const found: { p: ProcessInfo; arg?: string }[] = [];
  for (const p of listProcesses()) {
    const arg = p.cmdline.find((a) => a.includes(`${TMP}/${TEST_DIR_PREFIX}`));
    if (arg !== undefined || isTestPath(p.root)) found.push({ p, arg });
  }
  return found;
}

function leakedProcesses(procs: { p: ProcessInfo; arg?: string }[]): string[] {
  return procs.map(({ p, arg }) => `process: ${p.pid} ${basename(p.cmdline[0] ?? '?')} (${arg !== undefined ? `argument ${arg}` : `root ${p.root}`})`);
}

function testDirs(): string[] {
  return readdirSync(TMP)
    .filter((n) => n.startsWith(TEST_DIR_PREFIX))
    .map((n) => join(TMP, n));
}

/** runc state dirs (a dir holding state.json) up to a few levels below each test dir. */
function leakedRuncState(dirs: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    if (names.includes('state.json') && dir.split('/').includes('runc')) found.push(`runc state: ${dir}`);
    if (depth === 0) return;
    for (const n of names) {
      const p = join(dir, n);
      try {
        if (lstatSync(p).isDirectory()) walk(p, depth - 1);
      } catch {
        // Gone while we looked.
      }
    }
  };
  for (const d of dirs) walk(d, 4);
  return found;
}

/**
 * Container cgroups under <controller>/berth/. Tests' containers cannot be told apart by
 * name, so any cgroup there counts unless it belongs to a container of the machine's own
 * berth (its runtime state is in the default or the user's run root).
 */
function leakedCgroups(): string[] {
  const userRunRoots = ['/run/berth', process.env.BERTH_RUNROOT].filter((r): r is string => !!r && !isTestPath(r));
  // The runtime's state root is a directory of the run root (runtime/, runc/ …).
  const ownedByUser = (id: string) =>
    userRunRoots.some((r) => {
      try {
        return readdirSync(r).some((sub) => existsSync(join(r, sub, id, 'state.json')));
      } catch {
        return false;
      }
    });
  const found: string[] = [];
  let controllers: string[];
  try {
    controllers = readdirSync(CGROUP_ROOT);
  } catch {
    return found;
  }
  for (const c of controllers) {
    const berthDir = join(CGROUP_ROOT, c, 'berth');
    let ids: string[];
    try {
      ids = readdirSync(berthDir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      continue;
    }
    for (const id of ids) if (!ownedByUser(id)) found.push(`cgroup: ${join(berthDir, id)}`);
  }
  return found;
}

interface Link {
  ifindex: number;
  ifname: string;
  master?: string;
  /** A veth's peer, when it is in another namespace (its index there). */
  link_index?: number;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

function ipJson(args: string[], netns?: string): Link[] {
  const argv = netns ? ['nsenter', `--net=${netns}`, 'ip', '-j', ...args] : ['ip', '-j', ...args];
  return JSON.parse(execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) || '[]') as Link[];
}

/** Bridges named like the tests' (the bridge plugin makes them and never removes them). */
function leakedBridges(links: Link[]): string[] {
  return links.filter((l) => l.linkinfo?.info_kind === 'bridge' && isTestBridgeName(l.ifname)).map((l) => `bridge: ${l.ifname}`);
}

/**
 * Network namespaces the tests made that are still alive: bound at a test path, or entered
 * by a process that uses a test directory.
 */
function testNetns(procs: { p: ProcessInfo }[]): string[] {
  const seen = new Set([statSync('/proc/self/ns/net').ino]);
  const paths: string[] = [];
  const add = (path: string) => {
    try {
      const ino = statSync(path).ino;
      if (seen.has(ino)) return;
      seen.add(ino);
      paths.push(path);
    } catch {
      // Gone meanwhile.
    }
  };
  for (const m of listMounts()) if (m.fsType === 'nsfs' && isTestPath(m.mountPoint)) add(m.mountPoint);
  for (const { p } of procs) add(`/proc/${p.pid}/ns/net`);
  return paths;
}

/**
 * Host-side veths the tests made: on a test bridge, or (once the bridge is gone) with the
 * peer in a test's network namespace.
 */
function leakedVeths(links: Link[], netns: string[]): string[] {
  const veths = links.filter((l) => l.linkinfo?.info_kind === 'veth');
  const found = new Map<string, string>();
  for (const v of veths) if (v.master && isTestBridgeName(v.master)) found.set(v.ifname, `veth: ${v.ifname} (on ${v.master})`);
  for (const ns of netns) {
    let inside: Link[];
    try {
      inside = ipJson(['link', 'show', 'type', 'veth'], ns);
    } catch {
      continue; // gone meanwhile
    }
    for (const peer of inside) {
      const v = veths.find((h) => h.ifindex === peer.link_index && h.link_index === peer.ifindex);
      if (v && !found.has(v.ifname)) found.set(v.ifname, `veth: ${v.ifname} (peer ${peer.ifname} in ${ns})`);
    }
  }
  return [...found.values()];
}

/** The user's berth config dirs (not a test's): where its berth.toml may name a CNI conf dir and subnet. */
function hostBerthConfigs(): string[] {
  return ['/etc/berth', process.env.BERTH_CONFIG_DIR]
    .filter((d): d is string => !!d && !isTestPath(d))
    .map((d) => join(d, 'berth.toml'))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, 'utf8'));
}

/**
 * The subnets of the host's own networks: the tools' defaults, every subnet in the host's
 * CNI and podman network configs, and those of the addresses on its interfaces.
 */
function hostSubnets(addrs: Link[]): Cidr[] {
  const cidrs = [...HOST_DEFAULT_SUBNETS];
  const confDirs = ['/etc/cni/net.d', '/etc/containers/networks'];
  for (const toml of hostBerthConfigs()) {
    const confDir = /^\s*cni_conf_dir\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
    const subnet = /^\s*default_subnet\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
    if (confDir) confDirs.push(confDir);
    if (subnet) cidrs.push(subnet);
  }
  for (const dir of confDirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        for (const m of readFileSync(join(dir, n), 'utf8').matchAll(/"subnet"\s*:\s*"([0-9.]+\/\d+)"/g)) cidrs.push(m[1]);
      } catch {
        // A directory or an unreadable file: no network config.
      }
    }
  }
  for (const l of addrs) {
    if (isTestBridgeName(l.ifname)) continue;
    for (const a of l.addr_info ?? []) if (a.family === 'inet') cidrs.push(`${a.local}/${a.prefixlen}`);
  }
  return cidrs.map(parseCidr).filter((c): c is Cidr => c !== undefined);
}

interface Rule {
  table: string;
  chain: string;
  target?: string;
  text: string;
}

/** Chains the CNI plugins make per attachment: CNI-[DN-|SN-]<hash of network and container>. */
const ATTACHMENT_CHAIN = /^CNI-((DN|SN)-)?[0-9a-f]{8,}$/;

/**
 * iptables rules and chains of the tests' attachments: CNI rules (in or jumping to a
 * CNI-* chain) that name a test address, INPUT rules on a test bridge (dnsname's), the per-attachment chains such a rule is in or
 * jumps to, and every rule in or jumping to one of those chains. The chains all attachments
 * share (CNI-FORWARD, CNI-HOSTPORT-DNAT …) stay: the plugins make them once, for every user.
 */
function leakedIptables(host: Cidr[]): string[] {
  const rules: Rule[] = [];
  const chains: { table: string; name: string }[] = [];
  let table = '';
  for (const line of execFileSync('iptables-save', [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) chains.push({ table, name: line.slice(1).split(' ')[0]! });
    else if (line.startsWith('-A ')) rules.push({ table, chain: line.split(' ')[1]!, target: / -[jg] (\S+)/.exec(line)?.[1], text: line });
  }
  const namesTestAddress = (r: Rule) =>
    [r.chain, r.target].some((c) => c?.startsWith('CNI-')) &&
    [...r.text.matchAll(/(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])/g)].some((m) => isTestAddress(ipv4(m[1]!), host));
  // The dnsname plugin's ACCEPT of DNS on a network's bridge (removed by `network rm`).
  const acceptsOnTestBridge = (r: Rule) => r.chain === 'INPUT' && isTestBridgeName(/ -i (\S+)/.exec(r.text)?.[1] ?? '');
  const testRules = new Set(rules.filter((r) => namesTestAddress(r) || acceptsOnTestBridge(r)));
  const testChains = new Set<string>();
  const key = (t: string, c: string) => `${t} ${c}`;
  for (let changed = true; changed; ) {
    changed = false;
    for (const r of testRules) {
      for (const c of [r.chain, r.target]) {
        if (c && ATTACHMENT_CHAIN.test(c) && !testChains.has(key(r.table, c))) {
          testChains.add(key(r.table, c));
          changed = true;
        }
      }
    }
    for (const r of rules) {
      if (testRules.has(r)) continue;
      if (testChains.has(key(r.table, r.chain)) || (r.target && testChains.has(key(r.table, r.target)))) {
        testRules.add(r);
        changed = true;
      }
    }
  }
  return [
    ...chains.filter((c) => testChains.has(key(c.table, c.name))).map((c) => `iptables chain: ${c.table} ${c.name}`),
    ...rules.filter((r) => testRules.has(r)).map((r) => `iptables rule: ${r.table} ${r.text}`),
  ];
}

/** Everything tests left behind, one line each; empty when the host is clean. */
export function findLeaks(): string[] {
  const dirs = testDirs();
  const procs = testProcesses();
  const links = ipJson(['-d', 'link', 'show']);
  return [
    ...leakedMounts(),
    ...leakedProcesses(procs),
    ...leakedRuncState(dirs),
    ...leakedCgroups(),
    ...leakedBridges(links),
    ...leakedVeths(links, testNetns(procs)),
    ...leakedIptables(hostSubnets(ipJson(['-4', 'addr', 'show']))),
    ...dirs.map((d) => `directory: ${d}`),
  ];
}
