// The everyday container commands beside the lifecycle: top, diff, update, container prune.
import { execFile } from 'node:child_process';
import { existsCommand, type Command } from './command.js';
import type { ContainerManager } from '../container/index.js';
import { invalidArgument } from '../errors/index.js';
import { parseRestart, resourceFlags, resourcesFromFlags, restartFlagDef } from './options.js';
import { printError } from './errors.js';
import { containerFilter } from './container-filter.js';
import { confirm } from './prompt.js';
import { writeOut } from './stdout.js';

const topCommand: Command = {
  name: 'top',
  usage: 'top CONTAINER [ps OPTIONS]',
  summary: 'Display the running processes of a container',
  flags: [],
  minArgs: 1,
  stopAfter: 1,
  async run(ctx, _f, [ref, ...psArgs]) {
    const { header, rows } = await containerProcesses(await ctx.containers(), ref, psArgs);
    writeOut([header, ...rows].join('\n') + '\n');
  },
};

/**
 * As docker: the host's ps with the options given (default -ef), its header and the rows of
 * the container's processes.
 */
export async function containerProcesses(mgr: ContainerManager, ref: string, psArgs: string[]): Promise<{ header: string; rows: string[] }> {
  const pids = new Set((await mgr.pids(ref)).map(String));
  const out = await new Promise<string>((resolve, reject) =>
    execFile('ps', psArgs.length ? psArgs : ['-ef'], { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? reject(invalidArgument(`ps ${psArgs.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    ),
  );
  const [header = '', ...rows] = out.split('\n').filter(Boolean);
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw invalidArgument('ps options must include the PID column (e.g. -ef or -o pid,args)');
  return { header, rows: rows.filter((r) => pids.has(r.trim().split(/\s+/)[col] ?? '')) };
}

const diffCommand: Command = {
  name: 'diff',
  usage: 'diff CONTAINER',
  summary: "Inspect changes to a container's file system (A added, C changed, D deleted)",
  flags: [{ name: 'format', type: 'string', value: 'FORMAT', desc: 'Output format: json (the only one podman knows besides the default lines)' }],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [ref]) {
    const format = f.format as string | undefined;
    if (format !== undefined && format !== 'json') throw invalidArgument("only supported value for '--format' is 'json'");
    const changes = await (await ctx.containers()).changes(ref);
    if (format === undefined) return writeOut(changes.map((c) => `${c.kind} ${c.path}\n`).join(''));
    // podman's JSON: a list per kind, an empty one left out, indented as podman does.
    const report: Record<string, string[]> = {};
    for (const [key, kind] of [['changed', 'C'], ['added', 'A'], ['deleted', 'D']] as const) {
      const paths = changes.filter((c) => c.kind === kind).map((c) => c.path);
      if (paths.length > 0) report[key] = paths;
    }
    writeOut(JSON.stringify(report, null, 5) + '\n');
  },
};

const updateCommand: Command = {
  name: 'update',
  usage: 'update [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Update the resource limits or restart policy of one or more containers',
  flags: [...resourceFlags, restartFlagDef],
  minArgs: 1,
  async run(ctx, f, args) {
    // Each container's new limits are checked against its own (--memory-swap needs a memory limit).
    const limits = resourceFlags.some((d) => f[d.name] !== undefined);
    if (!limits && f.restart === undefined)
      throw invalidArgument(`update needs at least one limit or policy to change (${[...resourceFlags, restartFlagDef].map((d) => `--${d.name}`).join(', ')})`);
    const restart = f.restart !== undefined ? { policy: parseRestart(f.restart as string) } : undefined;
    const mgr = await ctx.containers();
    let failed = 0;
    for (const ref of args) {
      try {
        let c = await mgr.get(ref);
        if (limits) c = await mgr.updateResources(c.id, resourcesFromFlags(f, c.config.resources));
        if (restart) c = await mgr.setRestartPolicy(c.id, restart.policy);
        writeOut(`${c.id}\n`);
      } catch (e) {
        failed++;
        printError(e, false);
      }
    }
    return failed ? 125 : 0;
  },
};

const containerPruneCommand: Command = {
  name: 'prune',
  usage: 'prune [OPTIONS]',
  summary: 'Remove all stopped containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', desc: 'Do not prompt for confirmation' },
    { name: 'filter', type: 'strings', value: 'KEY=VALUE', desc: "Remove only the stopped containers that match (ps's filters, e.g. label=KEY[=VALUE], until=TIME)" },
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const mgr = await ctx.containers();
    const picked = await containerFilter(mgr, (f.filter as string[] | undefined) ?? []);
    if (!f.force && !(await confirm('WARNING! This will remove all non running containers.\nAre you sure you want to continue?'))) return 0;
    let failed = 0;
    for (const c of await mgr.list({ all: true })) {
      if (c.state !== 'stopped' || !picked(c)) continue;
      try {
        await mgr.remove(c.id);
        writeOut(`${c.id}\n`);
      } catch (e) {
        failed++;
        printError(e, false);
      }
    }
    return failed ? 125 : 0;
  },
};

/** Top-level commands, and those only in the container group. */
export const containerTools: Command[] = [topCommand, diffCommand, updateCommand];
export const containerGroupOnly: Command[] = [containerPruneCommand, existsCommand('container', async (ctx, ref) => (await ctx.containers()).get(ref))];
