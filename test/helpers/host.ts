// Reading and tidying the host's state (mounts, processes) for test clean-up and the leak
// check. Uses /proc directly and the system `umount`, nothing from src/.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mounts of this process's mount namespace, from /proc/self/mountinfo. */
export function listMounts(): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    mounts.push({
      mountPoint: unescapeMount(fields[4]),
      fsType: fields[sep + 1],
      source: unescapeMount(fields[sep + 2]),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return mounts;
}

/** Lazily unmounts everything at or below dir, deepest first (stacked mounts included). */
export function unmountUnder(dir: string): void {
  for (let round = 0; round < 10; round++) {
    const under = listMounts()
      .map((m) => m.mountPoint)
      .filter((p) => p === dir || p.startsWith(dir + '/'))
      .sort((a, b) => b.length - a.length);
    if (under.length === 0) return;
    for (const p of under) {
      try {
        execFileSync('umount', ['-l', p], { stdio: 'ignore' });
      } catch {
        // Already gone with its parent; the next round re-reads mountinfo.
      }
    }
  }
}

export interface ProcessInfo {
  pid: number;
  cmdline: string[];
  /** The process's root directory as seen from here ('' when unreadable). */
  root: string;
}

/** Every process visible in /proc except this one. */
export function listProcesses(): ProcessInfo[] {
  const procs: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      let root = '';
      try {
        root = readlinkSync(`/proc/${name}/root`);
      } catch {
        // Kernel threads and exiting processes.
      }
      procs.push({ pid: Number(name), cmdline, root });
    } catch {
      // Exited while we looked.
    }
  }
  return procs;
}

/** Processes that belong to dir: their command line names it or their root is inside it. */
export function processesUsing(dir: string): ProcessInfo[] {
  return listProcesses().filter(
    (p) => p.cmdline.some((a) => a.includes(dir)) || p.root === dir || p.root.startsWith(dir + '/'),
  );
}

/** True while pid exists and is not a zombie (a zombie holds no mounts or files). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILLs the given processes and waits (bounded) until they are gone. */
export async function killAndWait(pids: number[], timeoutMs = 5000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Field 22 of /proc/PID/stat (start time, clock ticks after boot); undefined when pid is gone. */
export function startTimeOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

interface Cleanup {
  after(fn: () => unknown): void;
}

/** A live process unrelated to berth (`sleep`), killed after the test. */
export function spawnSleeper(t: Cleanup): { pid: number; startTime: number } {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  t.after(() => killAndWait([child.pid!]));
  return { pid: child.pid!, startTime: startTimeOf(child.pid!)! };
}

/**
 * A zombie: a child of `sleep` (which never reaps) that exited. Its /proc entry stays,
 * start time included, until the parent is killed after the test.
 */
export async function spawnZombie(t: Cleanup): Promise<{ pid: number; startTime: number }> {
  // The child exits only once its parent has become `sleep` (in a subshell $$ is the parent
  // shell's pid): a child that exited before the exec would be reaped by the shell.
  const script = '(while [ "$(cat /proc/$$/comm)" != sleep ]; do sleep 0.01; done) & echo $!; exec sleep 1000';
  const parent = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => killAndWait([parent.pid!]));
  let out = '';
  for await (const chunk of parent.stdout) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  const pid = Number(out.trim());
  const deadline = Date.now() + 5000;
  while (!readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not become a zombie`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { pid, startTime: startTimeOf(pid)! };
}
