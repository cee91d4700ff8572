// Cold pull time, berth against podman and skopeo, from a docker-registry on 127.0.0.1
// (plain HTTP), of one image: busybox plus 5 layers of random bytes (gzip), measured in
// the same run, alternating, N runs each, every pull into an empty store:
//   berth pull -q REF                      (a fresh instance per run)
//   podman pull -q REF                     (a fresh --root/--runroot per run)
//   skopeo copy docker://REF dir:DIR       (stores the blobs as they come: no unpacking)
// plus the floor of any pull: downloading the layer blobs (curl, one after the other) and
// decompressing them (gzip -dc to /dev/null).
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, busyboxTarball, newInstance, type Instance } from '../test/helpers/index.js';
import { insecureConf, skopeoManifest, skopeoPush, startRegistry } from '../test/registry/fixture.js';
import { fmt, median, removeWorkDir, sh, timed, watchHostDirs } from './common.js';
import { PODMAN_HOST_DIRS, Podman } from './podman.js';

const DATA_LAYERS = 5;
const REPOSITORY = 'bench/pull';
const TAG = 'latest';
const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface Options {
  runs: number;
  sizeMb: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'size-mb': { type: 'string', default: '200' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`Usage: bench/pull [--runs N (5)] [--size-mb MB (200): random data, split over ${DATA_LAYERS} layers]`);
    process.exit(0);
  }
  const runs = Number(values.runs);
  const sizeMb = Number(values['size-mb']);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(sizeMb) || sizeMb < DATA_LAYERS) {
    console.error(`pull: --runs must be >= 1 and --size-mb an integer >= ${DATA_LAYERS}`);
    process.exit(2);
  }
  return { runs, sizeMb };
}

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

interface Layer {
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
async function buildLayout(dir: string, sizeMb: number): Promise<{ layout: string; layers: Layer[] }> {
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

/** One puller: a cold pull of ref, timed, then the store emptied again (not timed). */
interface Subject {
  name: string;
  label: string;
  pull(ref: string, check: boolean): Promise<number>;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const removeNewHostDirs = watchHostDirs(PODMAN_HOST_DIRS);
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  // The registry fixture's clean-ups (registry process, its dirs), run last to first.
  const afters: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void afters.push(fn) };
  let berth: Instance | undefined;
  let podman: Podman | undefined;
  try {
    const { layout, layers } = await buildLayout(dir, opts.sizeMb);
    const reg = await startRegistry(t);
    const ref = `${reg.host}/${REPOSITORY}:${TAG}`;
    await skopeoPush(layout, TAG, ref);
    // The floor decompresses the layout's blobs: they must be the very ones in the registry.
    const pushed = JSON.parse((await skopeoManifest(ref)).raw.toString()) as { layers: { digest: string }[] };
    if (pushed.layers.map((l) => l.digest).join() !== layers.map((l) => l.digest).join()) {
      throw new Error('the registry holds other layer blobs than the layout (recompressed on push?)');
    }
    const registriesConf = insecureConf(t, reg.host);
    const totalMb = layers.reduce((n, l) => n + l.size, 0) / 1e6;
    console.log(
      `pull: ${opts.runs} runs each, ${ref}: busybox + ${DATA_LAYERS} layers of ${(opts.sizeMb / DATA_LAYERS).toFixed(0)} MiB random data, ` +
        `${totalMb.toFixed(1)} MB of gzip layers`,
    );

    const subjects: Subject[] = [
      {
        name: 'berth',
        label: 'berth pull',
        async pull(ref, check) {
          const b = (berth = await newInstance());
          const env = { ...b.env, CONTAINERS_REGISTRIES_CONF: registriesConf };
          const ms = timed(BERTH, ['pull', '-q', ref], { env });
          if (check) {
            const [image] = JSON.parse(sh(BERTH, ['image', 'inspect', ref], { env })) as { Layers: unknown[] }[];
            if (image.Layers.length !== layers.length) throw new Error(`berth: ${image.Layers.length} layers pulled, expected ${layers.length}`);
          }
          await b.cleanup();
          berth = undefined;
          return ms;
        },
      },
      {
        name: 'podman',
        label: 'podman pull',
        async pull(ref, check) {
          const p = (podman = new Podman(join(dir, 'podman')));
          p.env.CONTAINERS_REGISTRIES_CONF = registriesConf;
          const ms = p.time(['pull', '-q', ref]);
          if (check) {
            const n = Number(p.run(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', ref]).trim());
            if (n !== layers.length) throw new Error(`podman: ${n} layers pulled, expected ${layers.length}`);
          }
          p.cleanup();
          await removeWorkDir(p.dir);
          podman = undefined;
          return ms;
        },
      },
      {
        name: 'skopeo',
        label: 'skopeo copy docker:// dir:',
        async pull(ref, check) {
          const dest = join(dir, 'skopeo');
          const ms = timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `dir:${dest}`]);
          if (check) {
            const n = readdirSync(dest).filter((f) => layers.some((l) => l.digest.slice(7) === f)).length;
            if (n !== layers.length) throw new Error(`skopeo: ${n} layer blobs copied, expected ${layers.length}`);
          }
          rmSync(dest, { recursive: true, force: true });
          return ms;
        },
      },
    ];

    const urls = layers.map((l) => `http://${reg.host}/v2/${REPOSITORY}/blobs/${l.digest}`);
    const devNull = openSync('/dev/null', 'w');
    const times = new Map(['berth', 'podman', 'skopeo', 'download', 'decompress'].map((n) => [n, [] as number[]]));
    try {
      for (let i = 0; i < opts.runs; i++) {
        for (const s of subjects) times.get(s.name)!.push(await s.pull(ref, i === 0));
        // One curl fetches the blobs one after the other, as one gzip decompresses them.
        times.get('download')!.push(timed('curl', ['-sSfL', ...urls.flatMap((u) => ['-o', '/dev/null', u])]));
        times.get('decompress')!.push(timed('gzip', ['-dc', ...layers.map((l) => l.path)], { stdio: ['ignore', devNull, 'pipe'] }));
      }
    } finally {
      closeSync(devNull);
    }

    const med = (name: string) => median(times.get(name)!);
    const floor = med('download') + med('decompress');
    console.log(`\nmedian of ${opts.runs}, cold`);
    for (const s of subjects) console.log(s.label.padEnd(36) + fmt(med(s.name)));
    console.log(`download (curl, ${layers.length} blobs in turn)`.padEnd(36) + fmt(med('download')));
    console.log('decompress (gzip -dc > /dev/null)'.padEnd(36) + fmt(med('decompress')));
    console.log('floor: download + decompress'.padEnd(36) + fmt(floor));
    console.log('');
    console.log('berth/podman'.padEnd(36) + (med('berth') / med('podman')).toFixed(2).padStart(10));
    console.log('berth/skopeo'.padEnd(36) + (med('berth') / med('skopeo')).toFixed(2).padStart(10));
    console.log('berth/floor'.padEnd(36) + (med('berth') / floor).toFixed(2).padStart(10));
  } finally {
    await berth?.cleanup();
    podman?.cleanup();
    for (const fn of afters.reverse()) await fn();
    await removeWorkDir(dir);
    removeNewHostDirs();
  }
}

main().catch((e: Error) => {
  console.error(`pull: ${e.message}`);
  process.exitCode = 1;
});
