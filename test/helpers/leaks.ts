// Finds what tests left behind on the host. Everything a test makes lives under a
// /tmp/berth-test-* directory, so "left behind" means: something still refers to one.
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { listMounts, listProcesses } from './host.js';

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
function leakedProcesses(): string[] {
  const leaks: string[] = [];
  for (const p of listProcesses()) {
    const arg = p.cmdline.find((a) => a.includes(`${TMP}/${TEST_DIR_PREFIX}`));
    if (arg === undefined && !isTestPath(p.root)) continue;
    const name = basename(p.cmdline[0] ?? '?');
    leaks.push(`process: ${p.pid} ${name} (${arg !== undefined ? `argument ${arg}` : `root ${p.root}`})`);
  }
  return leaks;
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

/** Everything tests left behind, one line each; empty when the host is clean. */
export function findLeaks(): string[] {
  const dirs = testDirs();
  return [
    ...leakedMounts(),
    ...leakedProcesses(),
    ...leakedRuncState(dirs),
    ...leakedCgroups(),
    ...dirs.map((d) => `directory: ${d}`),
  ];
}
