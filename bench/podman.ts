// podman, the manager the benchmarks measure berth against: all of its state in one
// directory, with a containers.conf that works on this host, and the cgroups it leaves
// behind removed again.
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, timed, timedRss } from './common.js';

/** Host directories podman and skopeo create on first use (see watchHostDirs). */
export const PODMAN_HOST_DIRS = ['/var/lib/containers', '/run/containers', '/run/libpod', '/run/runc'];

const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP_PARENT = 'libpod_parent';

export interface PodmanOptions {
  /** More containers.conf tables, written after [containers] and [engine]. */
  conf?: string;
  /** More global flags, after those that put its state in dir. */
  args?: string[];
}

export class Podman {
  readonly env: NodeJS.ProcessEnv;
  private readonly globalArgs: string[];
  /** Whether podman's parent cgroup was there before this podman: if so, it is not ours. */
  private readonly cgroupParentExisted = existsSync(join(CGROUP_ROOT, 'memory', CGROUP_PARENT));

  constructor(readonly dir: string, options: PodmanOptions = {}) {
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'containers.conf');
    // crun 1.8 refuses this hybrid cgroup setup, hence runc; no systemd, hence cgroupfs
    // and a file event log; no default ulimits, since root here cannot raise hard limits.
    writeFileSync(
      conf,
      '[containers]\ndefault_ulimits = []\n\n' +
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' +
        (options.conf ? `\n${options.conf}` : ''),
    );
    this.env = { ...process.env, CONTAINERS_CONF: conf };
    this.globalArgs = [
      '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'),
      '--storage-driver', 'overlay', '--runtime-flag', `root=${join(dir, 'runc')}`, ...(options.args ?? []),
    ];
  }

  run(a: string[]): string {
    return sh('podman', [...this.globalArgs, ...a], { env: this.env });
  }

  /** podman's arguments for a command of this podman (to spawn it yourself). */
  args(a: string[]): string[] {
    return [...this.globalArgs, ...a];
  }

  time(a: string[]): number {
    return timed('podman', [...this.globalArgs, ...a], { env: this.env });
  }

  timeRss(a: string[]): { ms: number; rssMb: number } {
    return timedRss('podman', [...this.globalArgs, ...a], { env: this.env });
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

  /** Removes its containers and images, and the cgroups podman leaves of them. */
  cleanup(): void {
    const ids = this.containerIds();
    for (const a of [['rm', '-af'], ['rmi', '-af']]) {
      try {
        this.run(a);
      } catch {
        // Best effort: the directory goes below anyway.
      }
    }
    removeCgroups(ids, this.cgroupParentExisted);
  }
}

/**
 * With cgroupfs on cgroup v1, podman leaves each container's (empty) cgroup behind in every
 * controller: removes those of the given containers, and podman's parent cgroups if they
 * were not there before.
 */
function removeCgroups(ids: string[], parentExisted: boolean): void {
  const controllers = readdirSync(CGROUP_ROOT).filter((c) => existsSync(join(CGROUP_ROOT, c, CGROUP_PARENT)));
  const names = [...ids.map((id) => `libpod-${id}`), ...(parentExisted ? [] : ['conmon', '.'])];
  for (const c of controllers) {
    for (const n of names) {
      try {
        rmdirSync(join(CGROUP_ROOT, c, CGROUP_PARENT, n));
      } catch {
        // Not there, or still in use (then not ours to remove).
      }
    }
  }
}
