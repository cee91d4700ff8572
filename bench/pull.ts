// Cold pull time, berth against podman and skopeo, from a docker-registry on 127.0.0.1
// (plain HTTP), of one image: busybox plus 5 layers of random bytes (gzip), measured in
// the same run, alternating, N runs each, every pull into an empty store:
//   berth pull -q REF                      (a fresh instance per run)
//   podman pull -q REF                     (a fresh --root/--runroot per run)
//   skopeo copy docker://REF dir:DIR       (stores the blobs as they come: no unpacking)
// plus the floor of any pull: downloading the layer blobs (curl, one after the other) and
// decompressing them (gzip -dc to /dev/null).
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, newInstance, type Instance } from '../test/helpers/index.js';
import { Cleanups, DATA_LAYERS, fmt, median, removeWorkDir, serveImage, sh, timed, timedRss, watchHostDirs } from './common.js';
import { PODMAN_HOST_DIRS, Podman } from './podman.js';

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

/** One puller: a cold pull of ref, timed, then the store emptied again (not timed). */
interface Subject {
  name: string;
  label: string;
  /** Wall time in ms, and peak RSS in MB where measured. */
  pull(ref: string, check: boolean): Promise<{ ms: number; rssMb?: number }>;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const removeNewHostDirs = watchHostDirs(PODMAN_HOST_DIRS);
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  // The registry process and its dirs.
  const cleanups = new Cleanups();
  let berth: Instance | undefined;
  let podman: Podman | undefined;
  try {
    const { ref, host, repository, layers, registriesConf, totalMb } = await serveImage(dir, opts.sizeMb, cleanups);
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
          const r = timedRss(BERTH, ['pull', '-q', ref], { env });
          if (check) {
            const [image] = JSON.parse(sh(BERTH, ['image', 'inspect', ref], { env })) as { Layers: unknown[] }[];
            if (image.Layers.length !== layers.length) throw new Error(`berth: ${image.Layers.length} layers pulled, expected ${layers.length}`);
          }
          await b.cleanup();
          berth = undefined;
          return r;
        },
      },
      {
        name: 'podman',
        label: 'podman pull',
        async pull(ref, check) {
          const p = (podman = new Podman(join(dir, 'podman')));
          p.env.CONTAINERS_REGISTRIES_CONF = registriesConf;
          const r = p.timeRss(['pull', '-q', ref]);
          if (check) {
            const n = Number(p.run(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', ref]).trim());
            if (n !== layers.length) throw new Error(`podman: ${n} layers pulled, expected ${layers.length}`);
          }
          p.cleanup();
          await removeWorkDir(p.dir);
          podman = undefined;
          return r;
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
          return { ms };
        },
      },
    ];

    const urls = layers.map((l) => `http://${host}/v2/${repository}/blobs/${l.digest}`);
    const devNull = openSync('/dev/null', 'w');
    const times = new Map(['berth', 'podman', 'skopeo', 'download', 'decompress'].map((n) => [n, [] as number[]]));
    const rss = new Map(['berth', 'podman'].map((n) => [n, [] as number[]]));
    try {
      for (let i = 0; i < opts.runs; i++) {
        for (const s of subjects) {
          const r = await s.pull(ref, i === 0);
          times.get(s.name)!.push(r.ms);
          if (r.rssMb !== undefined) rss.get(s.name)!.push(r.rssMb);
        }
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
    const rssMed = (name: string) => median(rss.get(name)!);
    console.log(`\npeak RSS, median of ${opts.runs}`);
    for (const name of rss.keys()) console.log(`${name} pull`.padEnd(36) + `${rssMed(name).toFixed(1)} MB`.padStart(10));
    console.log('berth/podman'.padEnd(36) + (rssMed('berth') / rssMed('podman')).toFixed(2).padStart(10));
  } finally {
    await berth?.cleanup();
    podman?.cleanup();
    await cleanups.run();
    await removeWorkDir(dir);
    removeNewHostDirs();
  }
}

main().catch((e: Error) => {
  console.error(`pull: ${e.message}`);
  process.exitCode = 1;
});
