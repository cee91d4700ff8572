// What the benchmarks share: running and timing commands, the busybox image they all run,
// a multi-layer image served by a registry on 127.0.0.1, and the clean-up of the work
// directory and of the host directories the tools create.
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxTarball, killAndWait, makeBusyboxRootfs, processesUsing, unmountUnder } from '../test/helpers/index.js';
import { insecureConf, skopeoManifest, skopeoPush, startRegistry } from '../test/registry/fixture.js';

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

/**
 * Wall time and peak RSS of one command (GNU time's %M: the largest resident set of the
 * process and of any child it waited for).
 */
export function timedRss(file: string, args: string[], o: SpawnSyncOptions = {}): { ms: number; rssMb: number } {
  const out = join(tmpdir(), `berth-bench-rss-${process.pid}`);
  try {
    const ms = timed('/usr/bin/time', ['-f', '%M', '-o', out, file, ...args], o);
    return { ms, rssMb: Number(readFileSync(out, 'utf8').trim().split('\n').pop()) / 1024 };
  } finally {
    rmSync(out, { force: true });
  }
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

/** Clean-ups run last to first, each once; after() has the shape the test fixtures take. */
export class Cleanups {
  private readonly fns: (() => unknown)[] = [];

  after(fn: () => unknown): void {
    this.fns.push(fn);
  }

  /** Runs every clean-up even when one fails (and reports that one on stderr). */
  async run(): Promise<void> {
    for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) {
      try {
        await fn();
      } catch (e) {
        console.error(`clean-up: ${(e as Error).message}`);
      }
    }
  }
}

export const DATA_LAYERS = 5;
const REPOSITORY = 'bench/pull';
const TAG = 'latest';
const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** gzip -n of src into dest (a child process, so several run at once). */
function gzipFile(src: string, dest: string): Promise<void> {
  const out = openSync(dest, 'w');
  return new Promise<void>((resolve, reject) => {
    const child = spawn('gzip', ['-c', '-n', src], { stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`gzip ${src}: exit ${code}: ${stderr.trim()}`))));
  }).finally(() => closeSync(out));
}

export interface Layer {
  digest: string;
  size: number;
  diffId: string;
  /** The gzip blob in the layout: what gzip -dc decompresses for the floor. */
  path: string;
}

/**
 * An OCI layout in dir/layout, tag TAG: the busybox rootfs, then DATA_LAYERS layers of one
 * file of random bytes each (sizeMb in all), every layer a gzip'd tar.
 */
export async function buildLayout(dir: string, sizeMb: number): Promise<{ layout: string; layers: Layer[] }> {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const putBlob = (data: Buffer) => {
    const digest = sha256(data);
    writeFileSync(join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };

  const tars = [busyboxTarball()];
  const layerBytes = Math.floor((sizeMb * 1024 * 1024) / DATA_LAYERS);
  for (let i = 0; i < DATA_LAYERS; i++) {
    const content = join(dir, `content-${i}`);
    mkdirSync(join(content, 'data'), { recursive: true });
    writeFileSync(join(content, 'data', `random-${i}.bin`), randomFillSync(Buffer.alloc(layerBytes)));
    const tar = join(dir, `layer-${i}.tar`);
    sh('tar', ['-C', content, '-cf', tar, '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', 'data']);
    rmSync(content, { recursive: true });
    tars.push(tar);
  }
  const gzipped = tars.map((_, i) => join(dir, `layer-${i}.tar.gz`));
  await Promise.all(tars.map((tar, i) => gzipFile(tar, gzipped[i])));

  const layers: Layer[] = tars.map((tar, i) => {
    const diffId = sha256(readFileSync(tar));
    const gz = readFileSync(gzipped[i]);
    const digest = sha256(gz);
    const path = join(blobs, digest.slice(7));
    renameSync(gzipped[i], path);
    if (tar !== tars[0]) rmSync(tar);
    return { digest, size: gz.length, diffId, path };
  });
  const config = {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created_by: i === 0 ? 'busybox' : `random data ${i}` })),
  };
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(Buffer.from(JSON.stringify(config))) };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: configDesc,
    layers: layers.map((l) => ({ mediaType: LAYER_MEDIA_TYPE, digest: l.digest, size: l.size })),
  };
  const manifestDesc = { mediaType: manifest.mediaType, ...putBlob(Buffer.from(JSON.stringify(manifest))) };
  const index = { schemaVersion: 2, manifests: [{ ...manifestDesc, annotations: { 'org.opencontainers.image.ref.name': TAG } }] };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  return { layout, layers };
}

export interface ServedImage {
  ref: string;
  /** host:port of the registry, and the image's repository in it. */
  host: string;
  repository: string;
  layers: Layer[];
  /** Marks the registry insecure (plain HTTP): for CONTAINERS_REGISTRIES_CONF. */
  registriesConf: string;
  /** Bytes of the gzip layers, in MB. */
  totalMb: number;
}

/**
 * buildLayout's image (in dir), pushed to a docker-registry on 127.0.0.1 that cleanups
 * stops (and whose dirs it removes).
 */
export async function serveImage(dir: string, sizeMb: number, cleanups: Cleanups): Promise<ServedImage> {
  const { layout, layers } = await buildLayout(dir, sizeMb);
  const reg = await startRegistry(cleanups);
  const ref = `${reg.host}/${REPOSITORY}:${TAG}`;
  await skopeoPush(layout, TAG, ref);
  // Callers may read the layout's blobs: they must be the very ones in the registry.
  const pushed = JSON.parse((await skopeoManifest(ref)).raw.toString()) as { layers: { digest: string }[] };
  if (pushed.layers.map((l) => l.digest).join() !== layers.map((l) => l.digest).join()) {
    throw new Error('the registry holds other layer blobs than the layout (recompressed on push?)');
  }
  const totalMb = layers.reduce((n, l) => n + l.size, 0) / 1e6;
  return { ref, host: reg.host, repository: REPOSITORY, layers, registriesConf: insecureConf(cleanups, reg.host), totalMb };
}
