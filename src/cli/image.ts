// import, load, save, images, rmi, tag, and the `image` command group.
import { outputFlag, toFileOrStdout } from './output-file.js';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Command } from './command.js';
import { existsCommand, formatFlag } from './command.js';
import { byText, humanSize, printList, renderAll, shortId, table, templateMap, timeAgo } from './format.js';
import { printError, removalExitCode } from './errors.js';
import { fromSystemError, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import type { ArchiveFormat, Image } from '../image/index.js';
import { created, imageInspectView, prunedImagesText } from './image-views.js';
import { confirm } from './prompt.js';
// The reference helpers directly, not through image/index.ts: that would load the whole
// image store (zlib, crypto, streams) into every command's start-up.
import { splitName } from '../image/reference.js';
import { writeOut } from './stdout.js';

const importCommand: Command = {
  name: 'import',
  usage: 'import [OPTIONS] FILE|- [REPOSITORY[:TAG]]',
  summary: 'Import a tarball (plain, gzip or zstd) as a one-layer image',
  flags: [
    { name: 'change', short: 'c', type: 'strings', value: 'INSTRUCTION', desc: 'Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL, VOLUME)' },
    { name: 'message', short: 'm', type: 'string', value: 'MESSAGE', desc: 'Commit message for the imported image' },
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, f, [file, name]) {
    if (/^https?:\/\//.test(file)) throw invalidArgument('importing from a URL is not supported: download the file first');
    const input = file === '-' ? process.stdin : await openInput(file);
    const images = await ctx.images();
    const img = await images.importRootfs(input, name, { message: f.message as string | undefined, changes: (f.change as string[] | undefined) ?? [] });
    writeOut(`sha256:${img.id}\n`);
  },
};

async function openInput(file: string): Promise<Readable> {
  const stream = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e) => reject(fromSystemError(e, file)));
  });
  return stream;
}

const loadCommand: Command = {
  name: 'load',
  usage: 'load [OPTIONS]',
  summary: 'Load images from a docker-archive or oci-archive (tar, optionally compressed)',
  flags: [
    { name: 'input', short: 'i', type: 'string', value: 'FILE', desc: 'Read from FILE instead of stdin' },
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Suppress progress output' },
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const file = f.input as string | undefined;
    if (!file && process.stdin.isTTY) throw invalidArgument('requested load from stdin, but stdin is a terminal: use -i FILE or redirect');
    const input = file ? await openInput(file) : process.stdin;
    const loaded = await (await ctx.images()).load(input);
    let out = '';
    for (const { image, names } of loaded) {
      if (names.length === 0) out += `Loaded image: sha256:${image.id}\n`;
      for (const n of names) out += `Loaded image: ${n}\n`;
    }
    writeOut(out);
  },
};

const saveCommand: Command = {
  name: 'save',
  usage: 'save [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Save images to a docker-archive or oci-archive',
  flags: [
    outputFlag,
    { name: 'format', type: 'string', value: 'FORMAT', desc: 'docker-archive (default) or oci-archive', default: 'docker-archive' },
  ],
  minArgs: 1,
  async run(ctx, f, refs) {
    const format = f.format as ArchiveFormat;
    if (format !== 'docker-archive' && format !== 'oci-archive')
      throw invalidArgument(`unsupported format "${format}": use docker-archive or oci-archive`);
    const file = f.output as string | undefined;
    const images = await ctx.images();
    await toFileOrStdout(file, 'cowardly refusing to save to a terminal. Use the -o flag or redirect', (out) => images.save(refs, out, format));
  },
};

/** One row per name (or one <none> row), like `podman images`. */
interface ImageRow {
  image: Image;
  repository: string;
  tag: string;
}

function rowsOf(images: Image[]): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const image of images) {
    // Pulled by digest: its repository with no tag, as podman lists it.
    const byDigest = image.names.length === 0 ? [...new Set(image.repoDigests.map((d) => d.slice(0, d.indexOf('@'))))] : [];
    for (const repository of byDigest) rows.push({ image, repository, tag: '<none>' });
    if (image.names.length === 0 && byDigest.length === 0) rows.push({ image, repository: '<none>', tag: '<none>' });
    for (const n of image.names) rows.push({ image, ...splitName(n) });
  }
  return rows;
}

/** Glob (* and ?) match, anchored. */
function glob(pattern: string, s: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^]*').replace(/\?/g, '.') + '$');
  return re.test(s);
}

/** The ways a user may write a stored name: full, without docker.io/library/, without localhost/. */
function spellings(repository: string): string[] {
  const out = [repository];
  for (const prefix of ['docker.io/library/', 'docker.io/', 'localhost/']) if (repository.startsWith(prefix)) out.push(repository.slice(prefix.length));
  return out;
}

function referenceMatches(pattern: string, row: ImageRow): boolean {
  if (row.repository === '<none>') return false;
  let repoPattern = pattern;
  let tagPattern: string | undefined;
  const slash = pattern.lastIndexOf('/');
  const colon = pattern.lastIndexOf(':');
  if (colon > slash) {
    repoPattern = pattern.slice(0, colon);
    tagPattern = pattern.slice(colon + 1);
  }
  if (tagPattern !== undefined && !glob(tagPattern, row.tag)) return false;
  return spellings(row.repository).some((r) => glob(repoPattern, r));
}

/** The images created before or after (since) the one a filter names; a name no image has is an error, as in podman. */
function createdOf(resolve: (ref: string) => Image, filter: string, ref: string): number {
  try {
    return created(resolve(ref));
  } catch (e) {
    throw isBerthError(e, 'NotFound') ? notFound(`could not find local image for filter "${filter}": ${ref}: image not known`) : e;
  }
}

function filterRows(rows: ImageRow[], filters: string[], resolve: (ref: string) => Image): ImageRow[] {
  const times = new Map<string, number>();
  const timeOf = (filter: string, ref: string) => {
    let t = times.get(ref);
    if (t === undefined) times.set(ref, (t = createdOf(resolve, filter, ref)));
    return t;
  };
  return rows.filter((row) =>
    filters.every((f) => {
      const i = f.indexOf('=');
      if (i < 0) throw invalidArgument(`bad filter "${f}": expected KEY=VALUE`);
      const [k, v] = [f.slice(0, i), f.slice(i + 1)];
      switch (k) {
        case 'reference':
          return referenceMatches(v, row);
        case 'dangling':
          if (v !== 'true' && v !== 'false') throw invalidArgument(`bad filter "${f}": dangling is true or false`);
          return (row.image.names.length === 0 && row.image.repoDigests.length === 0) === (v === 'true');
        case 'label': {
          const labels = row.image.config.config?.Labels ?? {};
          const eq = v.indexOf('=');
          return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case 'id':
          return row.image.id.startsWith(v.replace(/^sha256:/, ''));
        case 'digest':
          return row.image.digest === v || row.image.repoDigests.some((d) => d.endsWith(`@${v}`));
        case 'before':
          return created(row.image) < timeOf(k, v);
        case 'since':
          return created(row.image) > timeOf(k, v);
        default:
          throw invalidArgument(`invalid filter "${k}": supported are reference, dangling, label, id, digest, before, since`);
      }
    }),
  );
}

/** The fields `images --format` templates see. */
function rowView(row: ImageRow, noTrunc: boolean) {
  const t = created(row.image);
  return {
    ID: noTrunc ? `sha256:${row.image.id}` : shortId(row.image.id),
    Repository: row.repository,
    Tag: row.tag,
    Digest: row.image.servedDigest,
    Created: timeAgo(t),
    CreatedSince: timeAgo(t),
    CreatedAt: new Date(t).toISOString(),
    Size: humanSize(row.image.size),
    VirtualSize: humanSize(row.image.size),
    Names: row.image.names,
    Labels: templateMap(row.image.config.config?.Labels ?? {}),
  };
}

/** `images --format json`: one object per image, podman's field names. */
function imageJson(img: Image) {
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: img.names,
    RepoDigests: img.repoDigests,
    Size: img.size,
    SharedSize: 0,
    VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? null,
    Containers: 0,
    Names: img.names,
    Digest: img.servedDigest,
    Created: Math.floor(created(img) / 1000),
    CreatedAt: new Date(created(img)).toISOString(),
  };
}

/** images --sort, as podman orders: created newest first, size the smallest first, the rest by their text. */
const IMAGE_ORDERS: Record<string, (a: ImageRow, b: ImageRow) => number> = {
  created: (a, b) => created(b.image) - created(a.image),
  id: byText((r) => r.image.id),
  repository: byText((r) => r.repository),
  size: (a, b) => a.image.size - b.image.size,
  tag: byText((r) => r.tag),
};
const IMAGE_SORT_KEYS = Object.keys(IMAGE_ORDERS);

const imagesCommand: Command = {
  name: 'images',
  usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', desc: 'Show all images (berth keeps no intermediate images)' },
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Only show image IDs' },
    { name: 'no-trunc', type: 'bool', desc: 'Do not truncate IDs' },
    { name: 'digests', type: 'bool', desc: 'Show digests' },
    { name: 'noheading', short: 'n', type: 'bool', desc: 'Do not print column headings' },
    { name: 'filter', short: 'f', type: 'strings', value: 'FILTER', desc: 'Filter output (reference=PATTERN, dangling=true|false, label=KEY[=VALUE], id=ID, digest=DIGEST, before=IMAGE, since=IMAGE)' },
    { name: 'sort', type: 'string', value: 'KEY', desc: `Sort by ${IMAGE_SORT_KEYS.join(', ')} (default created: newest first)` },
    formatFlag,
  ],
  maxArgs: 1,
  async run(ctx, f, args) {
    const noTrunc = f['no-trunc'] === true;
    const sortKey = (f.sort as string | undefined) ?? 'created';
    if (!IMAGE_SORT_KEYS.includes(sortKey)) throw invalidArgument(`invalid --sort "${sortKey}": ${IMAGE_SORT_KEYS.slice(0, -1).join(', ')} or ${IMAGE_SORT_KEYS.at(-1)}`);
    const filters = [...((f.filter as string[] | undefined) ?? []), ...args.map((a) => `reference=${a}`)];
    const images = await ctx.images();
    const rows = filterRows(rowsOf(images.list()), filters, (ref) => images.resolve(ref)).sort(IMAGE_ORDERS[sortKey]);
    if (f.quiet) {
      const ids = [...new Set(rows.map((r) => rowView(r, noTrunc).ID))];
      writeOut(ids.map((i) => i + '\n').join(''));
      return;
    }
    const format = f.format as string | undefined;
    if (format === 'json') {
      const seen = new Set<string>();
      const images = rows.map((r) => r.image).filter((i) => !seen.has(i.id) && !!seen.add(i.id));
      writeOut(JSON.stringify(images.map(imageJson), null, 4) + '\n');
      return;
    }
    await printList(
      rows,
      format,
      (items) => {
        const headers = ['REPOSITORY', 'TAG', ...(f.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
        const cells = items.map((r) => {
          const v = rowView(r, noTrunc);
          return [v.Repository, v.Tag, ...(f.digests ? [v.Digest] : []), v.ID, v.Created, v.Size];
        });
        const text = table(headers, cells);
        return f.noheading ? text.split('\n').slice(1).join('\n') : text;
      },
      (r) => rowView(r, noTrunc),
      { type: 'image', headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED' } },
    );
  },
};

const rmiCommand: Command = {
  name: 'rmi',
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', desc: 'Remove all images' },
    { name: 'force', short: 'f', type: 'bool', desc: 'Remove an image even when a container uses it (it is only untagged then)' },
  ],
  async run(ctx, f, refs) {
    if (f.all && refs.length > 0) throw invalidArgument('when using the --all switch, you may not pass any images names or IDs');
    if (!f.all && refs.length === 0) throw invalidArgument('image name or ID must be specified');
    const images = await ctx.images();
    // -a removes each image by ID: every name goes with it (podman's rmi --all).
    const targets = f.all ? images.list().map((i) => `sha256:${i.id}`) : refs;
    const errors: unknown[] = [];
    for (const ref of targets) {
      try {
        const { untagged, deleted } = await images.remove(ref, { force: f.force === true, allNames: f.all === true });
        let out = untagged.map((n) => `Untagged: ${n}\n`).join('');
        if (deleted) out += `Deleted: sha256:${deleted}\n`;
        writeOut(out);
      } catch (e) {
        printError(e, false);
        errors.push(e);
      }
    }
    return errors.length ? removalExitCode(errors) : 0;
  },
};

const untagCommand: Command = {
  name: 'untag',
  usage: 'untag IMAGE [NAME...]',
  summary: 'Remove names from an image (all of them when none are given); the image stays',
  flags: [],
  minArgs: 1,
  async run(ctx, _f, [ref, ...names]) {
    await (await ctx.images()).untag(ref, names);
  },
};

const tagCommand: Command = {
  name: 'tag',
  usage: 'tag IMAGE TARGET_NAME [TARGET_NAME...]',
  summary: 'Add names to an image',
  flags: [],
  minArgs: 2,
  async run(ctx, _f, [src, ...targets]) {
    const images = await ctx.images();
    for (const t of targets) await images.tag(src, t);
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: 'inspect [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Show details of images',
  flags: [{ ...formatFlag, short: 'f', desc: 'Format the output: json (default) or a Go-style template such as {{.Id}}' }],
  minArgs: 1,
  async run(ctx, f, refs) {
    const images = await ctx.images();
    const views: unknown[] = [];
    let failed = false;
    for (const ref of refs) {
      try {
        views.push(imageInspectView(images.resolve(ref)));
      } catch (e) {
        printError(e, false);
        failed = true;
      }
    }
    const format = f.format as string | undefined;
    if (format && format !== 'json') writeOut(await renderAll(format, views, 'image'));
    else if (views.length || !failed) writeOut(JSON.stringify(views, null, 4) + '\n');
    return failed ? 125 : 0;
  },
};

const historyCommand: Command = {
  name: 'history',
  usage: 'history [OPTIONS] IMAGE',
  summary: 'Show the history of an image',
  flags: [
    { name: 'no-trunc', type: 'bool', desc: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Only show image IDs' },
    formatFlag,
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [ref]) {
    const images = await ctx.images();
    const img = images.resolve(ref);
    const snapshotSizes = new Map((await ctx.snapshots()).list().map((s) => [s.chainId, s.size]));
    // Entries that made a layer take the layers in order; the others are metadata only.
    const layers = [...img.layers];
    const history = img.config.history?.length ? img.config.history : layers.map(() => ({}) as NonNullable<typeof img.config.history>[number]);
    const rows = history.map((h) => {
      const layer = h.empty_layer ? undefined : layers.shift();
      return { created: h.created ? Date.parse(h.created) : img.addedAt, createdBy: h.created_by ?? '', size: layer ? snapshotSizes.get(layer.chainId) ?? layer.size : 0, comment: h.comment ?? '' };
    }).reverse();
    const noTrunc = !!f['no-trunc'];
    const id = (i: number) => (i === 0 ? (noTrunc ? `sha256:${img.id}` : img.id.slice(0, 12)) : '<missing>');
    if (f.quiet) return void writeOut(rows.map((_, i) => id(i) + '\n').join(''));
    const views = rows.map((r, i) => ({ ID: id(i), Created: new Date(r.created).toISOString(), CreatedSince: timeAgo(r.created), CreatedBy: r.createdBy, Size: humanSize(r.size), Comment: r.comment }));
    await printList(views, f.format as string | undefined, (vs) =>
      table(['ID', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], vs.map((v) => [v.ID, v.CreatedSince, noTrunc || v.CreatedBy.length <= 45 ? v.CreatedBy : `${v.CreatedBy.slice(0, 42)}...`, v.Size, v.Comment])), (v) => v);
  },
};

/**
 * podman's image tree: the image's layers, bottom first, each with its size and the images
 * it is the top layer of; with --whatrequires, the layers of the images built on it instead.
 */
const treeCommand: Command = {
  name: 'tree',
  usage: 'tree [OPTIONS] IMAGE',
  summary: "Show an image's layers as a tree",
  flags: [{ name: 'whatrequires', type: 'bool', desc: 'Show the layers of the images built on this one' }],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [ref]) {
    const images = await ctx.images();
    const img = images.resolve(ref);
    const all = images.list();
    const sizes = new Map((await ctx.snapshots()).list().map((s) => [s.chainId, s.size]));
    const topOf = (chainId: string) => all.filter((i) => i.layers.at(-1)?.chainId === chainId).flatMap((i) => i.names);
    const line = (chainId: string, size: number) => {
      const tops = topOf(chainId);
      return `ID: ${chainId.replace(/^sha256:/, '').slice(0, 12)} Size: ${humanSize(sizes.get(chainId) ?? size, 4).padStart(7)}${tops.length ? ` Top Layer of: [${tops.join(' ')}]` : ''}`;
    };
    const out = [`Image ID: ${img.id.slice(0, 12)}`, `Tags:     [${img.names.join(' ')}]`, `Size:     ${humanSize(img.size, 4)}`, 'Image Layers'];
    const chain = img.layers.map((l) => l.chainId);
    let rows: string[];
    if (!f.whatrequires) rows = img.layers.map((l) => line(l.chainId, l.size));
    else {
      // The layers above this image's top in every image that has all of its layers.
      const seen = new Set<string>();
      const above = all
        .filter((i) => i.id !== img.id && chain.every((c, k) => i.layers[k]?.chainId === c))
        .flatMap((i) => i.layers.slice(chain.length))
        .filter((l) => !seen.has(l.chainId) && !!seen.add(l.chainId));
      rows = [...(img.layers.length ? [line(chain.at(-1)!, img.layers.at(-1)!.size)] : []), ...above.map((l) => line(l.chainId, l.size))];
    }
    out.push(...rows.map((r, k) => `${k === rows.length - 1 ? '└── ' : '├── '}${r}`));
    writeOut(out.join('\n') + '\n\n');
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: 'prune [OPTIONS]',
  summary: 'Remove unused images and free the blobs and layers nothing uses',
  flags: [
    { name: 'all', short: 'a', type: 'bool', desc: 'Remove all images no container uses, not just dangling ones' },
    { name: 'force', short: 'f', type: 'bool', desc: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const warning = f.all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!f.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return 0;
    const { removed, report } = await (await ctx.images()).prune({ all: f.all === true });
    writeOut(`${prunedImagesText(removed)}Total reclaimed space: ${humanSize(report.reclaimed)}\n`);
  },
};

const alias = (cmd: Command, name: string, aliases: string[] = []): Command => ({ ...cmd, name, aliases, usage: cmd.usage.replace(/^\S+/, name) });

const imageGroup: Command = {
  name: 'image',
  usage: 'image COMMAND',
  summary: 'Manage images',
  flags: [],
  subcommands: [
    alias(imagesCommand, 'ls', ['list']),
    alias(rmiCommand, 'rm'),
    inspectCommand,
    tagCommand,
    untagCommand,
    importCommand,
    loadCommand,
    saveCommand,
    pruneCommand,
    historyCommand,
    treeCommand,
    existsCommand('image', async (ctx, ref) => (await ctx.images()).resolve(ref)),
  ],
};

export const imageCommands: Command[] = [imagesCommand, importCommand, loadCommand, saveCommand, rmiCommand, tagCommand, untagCommand, historyCommand, imageGroup];
