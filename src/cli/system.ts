// version, info, and the `system` group: df, prune.
import { serviceCommand } from './service.js';
import { join } from 'node:path';
import { execFileAsync } from '../sys/index.js';
import { arch, release } from 'node:os';
import { existsSync } from 'node:fs';
import { formatFlag, type Command } from './command.js';
import type { Engine } from '../engine/index.js';
import { humanSize, printList, renderAll, table } from './format.js';
import { prunedImagesText } from './image-views.js';
import { confirm } from './prompt.js';
import { printError } from './errors.js';
import { treeSize } from './df.js';

import { version } from '../engine/index.js';
import { writeOut } from './stdout.js';

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386' };

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 5000 });
    return stdout.split('\n')[0].trim();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? `not found (install ${cmd.split('/').pop()})` : `unknown (${(e as Error).message.split('\n')[0]})`;
  }
}

async function components(ctx: Engine) {
  const cfg = await ctx.config();
  const runtime = await ctx.runtime();
  let runtimePath = cfg.runtime.path;
  let runtimeVersion: string;
  try {
    runtimePath = runtime.binary();
    runtimeVersion = await runtime.version();
  } catch (e) {
    runtimeVersion = (e as Error).message;
  }
  const conmonVersion = await firstLine(cfg.conmon, ['--version']);
  return { cfg, runtimePath, runtimeVersion, conmonVersion };
}

async function print(view: object, type: string, format: string | undefined, text: () => string): Promise<void> {
  if (format === 'json') writeOut(JSON.stringify(view, null, 2) + '\n');
  else if (format) writeOut(await renderAll(format, [view], type));
  else writeOut(text());
}

/** version and info print one object, not a table. */
const viewFormatFlag = { ...formatFlag, short: 'f', desc: 'Output format: json or a Go-style template' };

const versionCommand: Command = {
  name: 'version',
  usage: 'version [OPTIONS]',
  summary: 'Show the berth version information',
  flags: [viewFormatFlag],
  maxArgs: 0,
  async run(ctx, f) {
    const { runtimePath, runtimeVersion, conmonVersion } = await components(ctx);
    const view = {
      Version: version,
      NodeVersion: process.version,
      OsArch: `linux/${goArch[arch()] ?? arch()}`,
      OCIRuntime: { Path: runtimePath, Version: runtimeVersion },
      Conmon: { Version: conmonVersion },
    };
    await print(view, 'version', f.format as string | undefined, () =>
      [
        `Version:      ${view.Version}`,
        `Node.js:      ${view.NodeVersion}`,
        `OS/Arch:      ${view.OsArch}`,
        `OCI runtime:  ${runtimeVersion} (${runtimePath})`,
        `conmon:       ${conmonVersion}`,
        '',
      ].join('\n'),
    );
  },
};

const infoCommand: Command = {
  name: 'info',
  usage: 'info [OPTIONS]',
  summary: 'Display system-wide information',
  flags: [viewFormatFlag],
  maxArgs: 0,
  async run(ctx, f) {
    const { cfg, runtimePath, runtimeVersion, conmonVersion } = await components(ctx);
    const counts = (await ctx.containers()).counts();
    const images = (await ctx.images()).count();
    const cgroup = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : existsSync('/sys/fs/cgroup/unified') ? 'v1 (hybrid)' : 'v1';
    const view = {
      Version: version,
      Host: { Kernel: release(), Arch: goArch[arch()] ?? arch(), CgroupVersion: cgroup },
      OCIRuntime: { Name: runtimePath.split('/').pop(), Path: runtimePath, Version: runtimeVersion },
      Conmon: { Path: cfg.conmon, Version: conmonVersion },
      Store: { Root: cfg.paths.root, RunRoot: cfg.paths.runRoot, ConfigDir: cfg.paths.configDir, GraphDriver: 'overlay' },
      Containers: { Total: counts.total, Running: counts.running, Paused: counts.paused, Stopped: counts.stopped },
      Images: images,
    };
    await print(view, 'info', f.format as string | undefined, () =>
      [
        `berth version:   ${version}`,
        'Host:',
        `  Kernel:        ${view.Host.Kernel}`,
        `  Arch:          ${view.Host.Arch}`,
        `  Cgroups:       ${view.Host.CgroupVersion}`,
        'OCI runtime:',
        `  Path:          ${runtimePath}`,
        `  Version:       ${runtimeVersion}`,
        'conmon:',
        `  Path:          ${cfg.conmon}`,
        `  Version:       ${conmonVersion}`,
        'Store:',
        `  Root:          ${cfg.paths.root}`,
        `  Run root:      ${cfg.paths.runRoot}`,
        `  Config dir:    ${cfg.paths.configDir}`,
        `  Graph driver:  overlay`,
        `Containers:      ${counts.total} (running ${counts.running}, paused ${counts.paused}, stopped ${counts.stopped})`,
        `Images:          ${images}`,
        '',
      ].join('\n'),
    );
  },
};

interface DfRow {
  type: string;
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

/** "11.63MB (70%)" as docker prints it; no percentage when there is nothing. */
function reclaimableText(r: DfRow): string {
  return r.size > 0 ? `${humanSize(r.reclaimable)} (${Math.floor((100 * r.reclaimable) / r.size)}%)` : humanSize(r.reclaimable);
}

const dfView = (r: DfRow) => ({
  Type: r.type,
  Total: r.total,
  TotalCount: r.total,
  Active: r.active,
  Size: humanSize(r.size),
  Reclaimable: reclaimableText(r),
  RawSize: r.size,
  RawReclaimable: r.reclaimable,
});

const dfCommand: Command = {
  name: 'df',
  usage: 'df [OPTIONS]',
  summary: 'Show disk usage of images, containers, and what interrupted pulls and loads left',
  flags: [
    { name: 'verbose', short: 'v', type: 'bool', desc: 'Show each image, container and volume' },
    { ...formatFlag, desc: 'Output format: table (default), json, or a Go-style template such as {{.Type}}' },
  ],
  maxArgs: 0,
  async run(ctx, f) {
    if (f.verbose) {
      const [df, { statusWord }] = await Promise.all([import('./df.js'), import('./container-filter.js')]);
      return df.printDiskUsageDetail(await df.diskUsageDetail(ctx, statusWord), f.format as string | undefined);
    }
    const images = await (await ctx.images()).diskUsage();
    const manager = await ctx.containers();
    const containers: DfRow = { type: 'Containers', total: 0, active: 0, size: 0, reclaimable: 0 };
    for (const c of await manager.list({ all: true })) {
      // The container's writable layer: the overlay's upper dir.
      const size = treeSize(join(manager.paths(c).dir, 'upper'));
      containers.total++;
      containers.size += size;
      if (c.state === 'running') containers.active++;
      else containers.reclaimable += size;
    }
    const volumes: DfRow = { type: 'Local Volumes', total: 0, active: 0, size: 0, reclaimable: 0 };
    const volumeStore = await ctx.volumes();
    for (const v of await volumeStore.list()) {
      const size = treeSize(volumeStore.mountpoint(v.name));
      volumes.total++;
      volumes.size += size;
      if ((await volumeStore.usersOf(v.name)).length > 0) volumes.active++;
      else volumes.reclaimable += size;
    }
    const rows: DfRow[] = [
      { type: 'Images', total: images.images, active: images.active, size: images.size, reclaimable: images.reclaimable },
      containers,
      volumes,
      // Blobs, snapshots and partial downloads no image references (killed pulls and loads); the next pull or load sweeps them.
      { type: 'Leftovers', total: images.leftovers.items, active: images.leftovers.active, size: images.leftovers.size, reclaimable: images.leftovers.reclaimable },
    ];
    await printList(
      rows,
      f.format as string | undefined,
      (items) => table(['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], items.map((r) => [r.type, String(r.total), String(r.active), humanSize(r.size), reclaimableText(r)])),
      dfView,
      { type: 'disk usage' },
    );
  },
};

const systemPruneCommand: Command = {
  name: 'prune',
  usage: 'prune [OPTIONS]',
  summary: 'Remove stopped containers and unused images, and free what nothing uses',
  flags: [
    { name: 'all', short: 'a', type: 'bool', desc: 'Remove all images no container uses, not just dangling ones' },
    { name: 'force', short: 'f', type: 'bool', desc: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', desc: 'Remove the volumes no container uses, too' },
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const warning = [
      'WARNING! This will remove:',
      '  - all stopped containers',
      f.all ? '  - all images without at least one container associated to them' : '  - all dangling images',
      '  - network attachments whose teardown failed',
      ...(f.volumes ? ['  - all volumes not used by at least one container'] : []),
    ].join('\n');
    if (!f.force && !(await confirm(`${warning}\n\nAre you sure you want to continue?`))) return 0;
    const manager = await ctx.containers();
    const removedContainers: string[] = [];
    let failed = false;
    let containerBytes = 0;
    for (const c of await manager.list({ all: true })) {
      if (c.state !== 'stopped') continue;
      try {
        const size = treeSize(join(manager.paths(c).dir, 'upper'));
        await manager.remove(c.id);
        removedContainers.push(c.id);
        containerBytes += size;
      } catch (e) {
        printError(e, false);
        failed = true;
      }
    }
    let volumeBytes = 0;
    let removedVolumes: string[] = [];
    if (f.volumes) {
      const volumes = await ctx.volumes();
      const sizes = new Map((await volumes.list()).map((v) => [v.name, treeSize(volumes.mountpoint(v.name))]));
      removedVolumes = await volumes.prune();
      volumeBytes = removedVolumes.reduce((n, name) => n + (sizes.get(name) ?? 0), 0);
    }
    const { removed, report } = await (await ctx.images()).prune({ all: f.all === true });
    const dropped = await (await ctx.network()).prune();
    let out = removedContainers.length ? `Deleted Containers:\n${removedContainers.map((id) => id + '\n').join('')}\n` : '';
    if (dropped.length) {
      const line = (d: (typeof dropped)[number]) => `${d.containerId} ${d.network} ${d.ifName}${d.error ? ` (DEL failed again: ${d.error})` : ''}\n`;
      out += `Deleted Network Attachments:\n${dropped.map(line).join('')}\n`;
    }
    if (removedVolumes.length) out += `Deleted Volumes:\n${removedVolumes.map((n) => n + '\n').join('')}\n`;
    out += prunedImagesText(removed);
    writeOut(`${out}Total reclaimed space: ${humanSize(report.reclaimed + containerBytes + volumeBytes)}\n`);
    return failed ? 1 : 0;
  },
};

const systemGroup: Command = {
  name: 'system',
  usage: 'system COMMAND',
  summary: 'Manage berth',
  flags: [],
  subcommands: [dfCommand, systemPruneCommand, infoCommand, versionCommand, serviceCommand],
};

export const systemCommands: Command[] = [versionCommand, infoCommand, systemGroup];
