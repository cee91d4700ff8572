// volume create|ls|inspect|rm|prune|exists.
import { open } from 'node:fs/promises';
import type { Command } from './command.js';
import type { Engine } from '../engine/index.js';
import type { Volume, VolumeStore } from '../volume/index.js';
import { formatFlag } from './command.js';
import { printList, renderAll, table, templateMap } from './format.js';
import { fromSystemError, invalidArgument } from '../errors/index.js';
import { parseLabels } from './options.js';
import { confirm } from './prompt.js';
import { outputFlag, toFileOrStdout } from './output-file.js';
import { writeOut } from './stdout.js';

/** `volume inspect`'s object, shaped as podman's. */
function volumeView(store: VolumeStore, v: Volume) {
  return {
    Name: v.name,
    Driver: 'local',
    Mountpoint: store.mountpoint(v.name),
    CreatedAt: new Date(v.createdAt).toISOString(),
    Labels: templateMap(v.labels),
    Scope: 'local',
    Options: templateMap(v.options),
    ...(v.anonymous ? { Anonymous: true } : {}),
    MountCount: 0,
    NeedsCopyUp: v.needsCopyUp,
  };
}

/** --filter name=, label=KEY[=VALUE], dangling=true|false; several are ANDed. */
function volumeFilter(filters: string[], users: (name: string) => string[]): (v: Volume) => boolean {
  const tests = filters.map((f): ((v: Volume) => boolean) => {
    const i = f.indexOf('=');
    const key = i < 0 ? f : f.slice(0, i);
    const val = i < 0 ? '' : f.slice(i + 1);
    switch (key) {
      case 'name':
        return (v) => v.name.includes(val);
      case 'label': {
        const j = val.indexOf('=');
        return j < 0 ? (v) => val in v.labels : (v) => v.labels[val.slice(0, j)] === val.slice(j + 1);
      }
      case 'dangling': {
        if (val !== 'true' && val !== 'false') throw invalidArgument(`invalid filter "${f}": dangling is true or false`);
        return (v) => (users(v.name).length === 0) === (val === 'true');
      }
      default:
        throw invalidArgument(`invalid filter "${f}": volume filters are name, label and dangling`);
    }
  });
  return (v) => tests.every((t) => t(v));
}

async function usersFn(store: VolumeStore, vols: Volume[]): Promise<(name: string) => string[]> {
  const m = new Map(await Promise.all(vols.map(async (v) => [v.name, await store.usersOf(v.name)] as const)));
  return (name) => m.get(name) ?? [];
}

const createCommand: Command = {
  name: 'create',
  usage: 'create [OPTIONS] [NAME]',
  summary: 'Create a new volume',
  flags: [
    { name: 'label', short: 'l', type: 'strings', value: 'KEY=VALUE', desc: 'Set metadata for a volume' },
    { name: 'opt', short: 'o', type: 'strings', value: 'KEY=VALUE', desc: 'Set driver specific options' },
    { name: 'driver', short: 'd', type: 'string', value: 'NAME', desc: 'Volume driver (only "local")' },
  ],
  maxArgs: 1,
  async run(ctx, f, args) {
    if (f.driver !== undefined && f.driver !== 'local') throw invalidArgument(`unknown volume driver "${f.driver}": only "local" is available`);
    const options = parseLabels((f.opt as string[] | undefined) ?? []);
    const v = await (await ctx.volumes()).create({ name: args[0], labels: parseLabels((f.label as string[] | undefined) ?? []), options });
    writeOut(v.name + '\n');
  },
};

const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: 'ls [OPTIONS]',
  summary: 'List volumes',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Print only the volume names' },
    { name: 'noheading', short: 'n', type: 'bool', desc: 'Do not print column headings' },
    { name: 'filter', short: 'f', type: 'strings', value: 'KEY=VALUE', desc: 'Filter output (name, label, dangling)' },
    formatFlag,
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const store = await ctx.volumes();
    const all = await store.list();
    const users = await usersFn(store, all);
    const list = all.filter(volumeFilter((f.filter as string[] | undefined) ?? [], users));
    if (f.quiet) return void writeOut(list.map((v) => v.name + '\n').join(''));
    await printList(
      list,
      f.format as string | undefined,
      (items) => {
        const text = table(['DRIVER', 'VOLUME NAME'], items.map((v) => ['local', v.name]));
        return f.noheading ? text.split('\n').slice(1).join('\n') : text;
      },
      (v) => volumeView(store, v),
      { type: 'volume', headers: { Name: 'VOLUME NAME' } },
    );
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: 'inspect [OPTIONS] VOLUME [VOLUME...]',
  summary: 'Display detailed information on one or more volumes',
  flags: [
    { name: 'format', short: 'f', type: 'string', value: 'FORMAT', desc: 'Format the output using a Go-style template' },
    { name: 'all', short: 'a', type: 'bool', desc: 'Inspect all volumes' },
  ],
  async run(ctx, f, args) {
    if (!f.all && args.length === 0) throw invalidArgument('"berth volume inspect" requires at least 1 argument (or --all)');
    const store = await ctx.volumes();
    const vols = f.all ? await store.list() : await Promise.all(args.map((a) => store.get(a)));
    const views = vols.map((v) => volumeView(store, v));
    const format = f.format as string | undefined;
    if (format) writeOut(await renderAll(format, views, 'volume'));
    else writeOut(JSON.stringify(views, null, 4) + '\n');
  },
};

/** Removes the containers using a volume (stopping running ones), as podman's `volume rm -f`. */
async function removeUsers(ctx: Engine, store: VolumeStore, name: string): Promise<void> {
  const ids = await store.usersOf(name);
  if (ids.length === 0) return;
  const containers = await ctx.containers();
  for (const id of ids) await containers.remove(id, { force: true });
}

const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'rm [OPTIONS] VOLUME [VOLUME...]',
  summary: 'Remove one or more volumes',
  flags: [
    { name: 'force', short: 'f', type: 'bool', desc: 'Remove the volume even if containers use it (those containers are removed first)' },
    { name: 'all', short: 'a', type: 'bool', desc: 'Remove all volumes' },
  ],
  async run(ctx, f, args) {
    if (!f.all && args.length === 0) throw invalidArgument('"berth volume rm" requires at least 1 argument (or --all)');
    const store = await ctx.volumes();
    const names = f.all ? (await store.list()).map((v) => v.name) : args;
    let failed = false;
    for (const name of names) {
      try {
        const v = await store.get(name);
        if (f.force) await removeUsers(ctx, store, v.name);
        await store.remove(v.name);
        writeOut(v.name + '\n');
      } catch (e) {
        if (f.all || names.length === 1) throw e;
        process.stderr.write(`berth: ${(e as Error).message}\n`);
        failed = true;
      }
    }
    return failed ? 125 : 0;
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: 'prune [OPTIONS]',
  summary: 'Remove all volumes no container uses',
  flags: [
    { name: 'force', short: 'f', type: 'bool', desc: 'Do not prompt for confirmation' },
    { name: 'filter', type: 'strings', value: 'KEY=VALUE', desc: 'Prune only volumes that match (name, label)' },
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const store = await ctx.volumes();
    const match = volumeFilter((f.filter as string[] | undefined) ?? [], () => []);
    if (!f.force && !(await confirm('WARNING! This will remove all volumes not used by at least one container.\nAre you sure you want to continue?'))) return 0;
    for (const name of await store.prune((v) => !match(v))) writeOut(name + '\n');
  },
};

const existsCommand: Command = {
  name: 'exists',
  usage: 'exists VOLUME',
  summary: 'Check if a volume exists (exit 0 if it does, 1 if not)',
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, _f, args) {
    return (await (await ctx.volumes()).exists(args[0])) ? 0 : 1;
  },
};

/** The volume's data as a tar (podman's volume export: the entries under ./). */
const exportCommand: Command = {
  name: 'export',
  usage: 'export [OPTIONS] VOLUME',
  summary: 'Write the content of a volume as a tar archive',
  flags: [outputFlag],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [name]) {
    const data = await (await ctx.volumes()).use(name);
    const { RootView, copyToStream } = await import('../snapshot/index.js');
    await toFileOrStdout(f.output as string | undefined, 'cannot write to terminal, use command-line redirection or the --output flag', (out) =>
      copyToStream({ view: new RootView(data), path: '/.', where: `volume ${name}` }, out, { contentsName: '.' }),
    );
  },
};

/** A tar (plain or compressed, a file or - for standard input) unpacked into the volume, owners kept. */
const importCommand: Command = {
  name: 'import',
  usage: 'import VOLUME SOURCE',
  summary: 'Unpack a tar archive into a volume (SOURCE - reads standard input)',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, _f, [name, source]) {
    const data = await (await ctx.volumes()).use(name);
    const { RootView, copyFromStream } = await import('../snapshot/index.js');
    // A missing file is said before anything is unpacked.
    const input = source === '-' ? process.stdin : (await open(source).catch((e: unknown) => Promise.reject(fromSystemError(e, source)))).createReadStream();
    await copyFromStream(input, { view: new RootView(data), path: '/', where: `volume ${name}` }, { archive: true });
  },
};

export const volumeCommand: Command = {
  name: 'volume',
  usage: 'volume COMMAND',
  summary: 'Manage volumes',
  flags: [],
  subcommands: [createCommand, lsCommand, inspectCommand, rmCommand, pruneCommand, existsCommand, exportCommand, importCommand],
};
