// logs: a container's log, in a file of its own (no run or attach code to load for it).
import type { Command } from './command.js';
import { invalidArgument } from '../errors/index.js';
import { parseTime } from './options.js';
import { writeOut } from './stdout.js';

export const logsCommand: Command = {
  name: 'logs',
  usage: 'logs [OPTIONS] CONTAINER',
  summary: 'Fetch the logs of a container',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', desc: 'Follow log output' },
    { name: 'tail', short: 'n', type: 'string', value: 'N', desc: 'Number of lines to show from the end of the logs (default all)' },
    { name: 'since', type: 'string', value: 'TIME', desc: 'Show logs since timestamp (e.g. 2024-01-02T13:23:37Z) or relative (e.g. 42m)' },
    { name: 'until', type: 'string', value: 'TIME', desc: 'Show logs before a timestamp or relative time' },
    { name: 'timestamps', short: 't', type: 'bool', desc: 'Show timestamps' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, args) {
    const mgr = await ctx.containers();
    const c = await mgr.get(args[0]);
    const tailRaw = f.tail as string | undefined;
    if (tailRaw !== undefined && tailRaw !== 'all' && !/^\d+$/.test(tailRaw))
      throw invalidArgument(`invalid value "${tailRaw}" for --tail: expected a number or "all"`);
    // Following, ctrl-c ends the command quietly, with what was read printed. Without
    // follow the default SIGINT is enough: an AbortController (a module node loads on first
    // use) and a signal handler cost a plain `logs` a millisecond.
    let signal: AbortSignal | undefined;
    if (f.follow) {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      signal = ac.signal;
    }
    const lines = mgr.logs(c, {
      tail: tailRaw === undefined || tailRaw === 'all' ? undefined : Number(tailRaw),
      since: f.since !== undefined ? parseTime(f.since as string, '--since') : undefined,
      until: f.until !== undefined ? parseTime(f.until as string, '--until') : undefined,
      follow: !!f.follow,
      signal,
      sync: true, // this process serves nothing else meanwhile
    });
    for await (const l of lines) {
      // The text as the container wrote it: bytes, not necessarily UTF-8.
      const write = l.stream === 'stderr' ? (s: string | Uint8Array) => process.stderr.write(s) : writeOut;
      if (f.timestamps) write(l.time + ' ');
      write(l.text);
      if (!l.partial) write('\n');
    }
  },
};
