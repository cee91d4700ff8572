// pause and unpause: the cgroup freezer, through the OCI runtime.
import type { Command } from './command.js';
import type { Container, ContainerManager } from '../container/index.js';
import { invalidArgument } from '../errors/index.js';
import { printError } from './errors.js';
import { writeOut } from './stdout.js';

function freezerCommand(name: 'pause' | 'unpause', summary: string, op: (m: ContainerManager, ref: string) => Promise<Container>, eligible: (c: Container) => boolean): Command {
  return {
    name,
    usage: `${name} [OPTIONS] CONTAINER [CONTAINER...]`,
    summary,
    flags: [{ name: 'all', short: 'a', type: 'bool', desc: name === 'pause' ? 'Pause all running containers' : 'Unpause all paused containers' }],
    async run(ctx, f, args) {
      if (f.all && args.length > 0) throw invalidArgument('--all and container names cannot be used together');
      if (!f.all && args.length === 0) throw invalidArgument(`"berth ${name}" requires at least 1 argument; usage: berth ${name} [OPTIONS] CONTAINER [CONTAINER...]`);
      const mgr = await ctx.containers();
      // With --all, as podman: the IDs of those it acted on, the others left alone.
      const refs = f.all ? (await mgr.list()).filter(eligible).map((c) => c.id) : args;
      let failed = 0;
      for (const ref of refs) {
        try {
          await op(mgr, ref);
          writeOut(ref + '\n');
        } catch (e) {
          failed++;
          printError(e, false);
        }
      }
      return failed ? 125 : 0;
    },
  };
}

export const pauseCommands: Command[] = [
  freezerCommand('pause', 'Pause all the processes in one or more containers', (m, r) => m.pause(r), (c) => c.state === 'running' && !c.paused),
  freezerCommand('unpause', 'Unpause the processes in one or more containers', (m, r) => m.unpause(r), (c) => c.paused),
];
