// logs: a container's log, in a file of its own (no run or attach code to load for it).
import type { Command } from './command.js';
import { invalidArgument } from '../errors/index.js';
import { parseTime } from './options.js';
import { writeOut } from './stdout.js';
import type { LogLine } from '../monitor/index.js';

/** A line's time as a sortable key: RFC 3339 with the fraction padded to nanoseconds. */
function timeKey(time: string): string {
  const m = /^([^.Z]+)(?:\.(\d+))?/.exec(time);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}` : time;
}

/** Each source's lines as they come: a following read ends when all of them have. */
async function* interleave<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const next = (i: number) => its[i].next().then((r) => ({ i, r }));
  const pending = new Map(its.map((_, i) => [i, next(i)]));
  while (pending.size > 0) {
    const { i, r } = await Promise.race(pending.values());
    if (r.done) pending.delete(i);
    else {
      pending.set(i, next(i));
      yield r.value;
    }
  }
}

export const logsCommand: Command = {
  name: 'logs',
  usage: 'logs [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Fetch the logs of one or more containers',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', desc: 'Follow log output' },
    { name: 'tail', short: 'n', type: 'string', value: 'N', desc: 'Number of lines to show from the end of the logs (default all)' },
    { name: 'since', type: 'string', value: 'TIME', desc: 'Show logs since timestamp (e.g. 2024-01-02T13:23:37Z) or relative (e.g. 42m)' },
    { name: 'until', type: 'string', value: 'TIME', desc: 'Show logs before a timestamp or relative time' },
    { name: 'timestamps', short: 't', type: 'bool', desc: 'Show timestamps' },
    { name: 'names', type: 'bool', desc: "With several containers: begin each line with the container's name instead of its ID" },
  ],
  minArgs: 1,
  async run(ctx, f, args) {
    const mgr = await ctx.containers();
    const containers = await Promise.all(args.map((a) => mgr.get(a)));
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
    const o = {
      tail: tailRaw === undefined || tailRaw === 'all' ? undefined : Number(tailRaw),
      since: f.since !== undefined ? parseTime(f.since as string, '--since') : undefined,
      until: f.until !== undefined ? parseTime(f.until as string, '--until') : undefined,
      follow: !!f.follow,
      signal,
      sync: true, // this process serves nothing else meanwhile
    };
    // Several containers: each line begins with its container's short ID (or name), as podman's.
    const sources = containers.map(async function* (c) {
      const prefix = containers.length > 1 ? `${f.names ? c.name : c.id.slice(0, 12)} ` : '';
      for await (const line of mgr.logs(c, o)) yield { prefix, line };
    });
    type Tagged = { prefix: string; line: LogLine };
    let lines: AsyncIterable<Tagged> | Tagged[] = sources[0];
    if (sources.length > 1 && f.follow) lines = interleave(sources);
    else if (sources.length > 1) {
      // What is there already: merged in the order it was written (a stable sort keeps each container's own order).
      const all: Tagged[] = [];
      for (const source of sources) for await (const t of source) all.push(t);
      lines = all.map((t) => ({ t, key: timeKey(t.line.time) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((x) => x.t);
    }
    for await (const { prefix, line: l } of lines) {
      // The text as the container wrote it: bytes, not necessarily UTF-8.
      const write = l.stream === 'stderr' ? (s: string | Uint8Array) => process.stderr.write(s) : writeOut;
      if (prefix) write(prefix);
      if (f.timestamps) write(l.time + ' ');
      write(l.text);
      if (!l.partial) write('\n');
    }
  },
};
