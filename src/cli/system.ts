// version and info.
import { promisify } from 'node:util';
import { childProcess } from '../sys/index.js';
import { arch, release } from 'node:os';
import { existsSync } from 'node:fs';
import type { Command } from './command.js';
import type { Context } from './context.js';
import { OciRuntime } from '../oci/index.js';
import { renderTemplate } from './format.js';

declare const BERTH_VERSION: string | undefined;
export const version = typeof BERTH_VERSION === 'string' ? BERTH_VERSION : '0.1.0';

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386' };

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(childProcess().execFile)(cmd, args, { timeout: 5000 });
    return stdout.split('\n')[0].trim();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? `not found (install ${cmd.split('/').pop()})` : `unknown (${(e as Error).message.split('\n')[0]})`;
  }
}

async function components(ctx: Context) {
  const cfg = await ctx.config();
  const runtime = new OciRuntime(cfg.runtime, '/nonexistent');
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

function print(view: object, format: string | undefined, text: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(view, null, 2) + '\n');
  else if (format) process.stdout.write(renderTemplate(format, view) + '\n');
  else process.stdout.write(text());
}

const formatFlag = { name: 'format', short: 'f', type: 'string' as const, value: 'FORMAT', desc: 'Output format: json or a Go-style template' };

const versionCommand: Command = {
  name: 'version',
  usage: 'version [OPTIONS]',
  summary: 'Show the berth version information',
  flags: [formatFlag],
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
    print(view, f.format as string | undefined, () =>
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
  flags: [formatFlag],
  maxArgs: 0,
  async run(ctx, f) {
    const { cfg, runtimePath, runtimeVersion, conmonVersion } = await components(ctx);
    const counts = (await ctx.containers()).counts();
    const db = (await ctx.store()).db;
    const images = (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
    const cgroup = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : existsSync('/sys/fs/cgroup/unified') ? 'v1 (hybrid)' : 'v1';
    const view = {
      Version: version,
      Host: { Kernel: release(), Arch: goArch[arch()] ?? arch(), CgroupVersion: cgroup },
      OCIRuntime: { Name: runtimePath.split('/').pop(), Path: runtimePath, Version: runtimeVersion },
      Conmon: { Path: cfg.conmon, Version: conmonVersion },
      Store: { Root: cfg.paths.root, RunRoot: cfg.paths.runRoot, ConfigDir: cfg.paths.configDir, GraphDriver: 'overlay' },
      Containers: { Total: counts.total, Running: counts.running, Stopped: counts.stopped },
      Images: images,
    };
    print(view, f.format as string | undefined, () =>
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
        `Containers:      ${counts.total} (running ${counts.running}, stopped ${counts.stopped})`,
        `Images:          ${images}`,
        '',
      ].join('\n'),
    );
  },
};

export const systemCommands: Command[] = [versionCommand, infoCommand];
