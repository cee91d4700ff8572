// An image store on a temp root (real SQLite, content store and overlay snapshotter), and
// image archives made by skopeo and umoci.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContentStore } from '../../src/content/index.js';
import { ImageStore } from '../../src/image/index.js';
import { Snapshotter } from '../../src/snapshot/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { ContainerRecords } from '../../src/container/index.js';

export interface Env {
  dir: string;
  store: Store;
  content: ContentStore;
  snapshots: Snapshotter;
  images: ImageStore;
}

export function setup(t: { after: (fn: () => void) => void }): Env {
  const dir = mkdtempSync('/tmp/berth-test-image-');
  const store = openStore(join(dir, 'root'));
  const content = new ContentStore(join(dir, 'root', 'content'));
  const snapshots = new Snapshotter(join(dir, 'root', 'snapshots'), store);
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, content, snapshots, images: new ImageStore(store, content, snapshots, async () => new ContainerRecords(store).imageUsers()) };
}

/** Everything an image operation can leave behind, counted. */
export function counts(env: Env) {
  const n = (sql: string) => (env.store.db.prepare(sql).get() as { n: number }).n;
  const ls = (p: string) => (existsSync(p) ? readdirSync(p).length : 0);
  return {
    images: n('SELECT count(*) AS n FROM images'),
    names: n('SELECT count(*) AS n FROM image_names'),
    snapshots: n('SELECT count(*) AS n FROM snapshots'),
    snapshotDirs: ls(join(env.dir, 'root', 'snapshots')),
    blobs: env.content.list().length,
    ingest: ls(join(env.dir, 'root', 'content', 'ingest')),
  };
}

/**
 * An OCI image layout made by umoci (one gzip layer with bin/busybox, Cmd set) with tags
 * v1 and v2 that differ in their config, exported by skopeo as docker-archive and
 * oci-archive named example.com/bb:v1.
 */
export function umociArchives(dir: string): { layout: string; dockerArchive: string; ociArchive: string } {
  const work = join(dir, 'umoci');
  mkdirSync(work);
  const layout = join(work, 'layout');
  const bundle = join(work, 'bundle');
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:v1`]);
  // unpack + repack (umoci 0.4's `insert` writes a layer tar without its final padding).
  run('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
  mkdirSync(join(bundle, 'rootfs', 'bin'));
  copyFileSync('/bin/busybox', join(bundle, 'rootfs', 'bin', 'busybox'));
  run('umoci', ['repack', '--image', `${layout}:v1`, bundle]);
  run('umoci', ['config', '--image', `${layout}:v1`, '--config.cmd', '/bin/busybox', '--config.cmd', 'sh']);
  run('umoci', ['config', '--image', `${layout}:v1`, '--tag', 'v2', '--config.env', 'V=2']);
  const dockerArchive = join(work, 'docker.tar');
  const ociArchive = join(work, 'oci.tar');
  run('skopeo', ['copy', '-q', `oci:${layout}:v1`, `docker-archive:${dockerArchive}:example.com/bb:v1`]);
  run('skopeo', ['copy', '-q', `oci:${layout}:v1`, `oci-archive:${ociArchive}:example.com/bb:v1`]);
  return { layout, dockerArchive, ociArchive };
}

export function skopeoJson(args: string[]): any {
  return JSON.parse(execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}
