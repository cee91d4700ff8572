// What the benchmarks share: running and timing commands, the busybox image they all run,
// and the clean-up of the work directory and of the host directories the tools create.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { killAndWait, makeBusyboxRootfs, processesUsing, unmountUnder } from '../test/helpers/index.js';

/** The image every subject runs, loaded from the archive buildArchive makes. */
export const IMAGE = 'localhost/bench-busybox:latest';

/** Runs a command to completion; throws with its stderr when it fails. */
export function sh(file: string, args: string[], o: SpawnSyncOptions = {}): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...o });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

/** Wall time of one command in milliseconds (the command must succeed). */
export function timed(file: string, args: string[], o: SpawnSyncOptions = {}): number {
  const start = process.hrtime.bigint();
  sh(file, args, o);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A table cell: milliseconds, right-aligned in 10 columns. */
export function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`.padStart(10);
}

/**
 * The busybox image as a docker-archive, made with umoci (OCI layout) and skopeo. Leaves
 * its rootfs in dir/rootfs.
 */
export function buildArchive(dir: string): string {
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

/** Ends the processes still using dir, unmounts what is mounted under it, and removes it. */
export async function removeWorkDir(dir: string): Promise<void> {
  await killAndWait(processesUsing(dir).map((p) => p.pid));
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Notes which of the host directories dirs (made by the tools on first use) exist now; the
 * function it returns removes again those that appeared since, if nothing is left in them.
 */
export function watchHostDirs(dirs: string[]): () => void {
  const before = dirs.filter((d) => existsSync(d));
  return () => {
    for (const d of dirs.filter((d) => !before.includes(d))) removeIfOnlyEmptyDirs(d);
  };
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
