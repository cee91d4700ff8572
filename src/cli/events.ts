// `berth events`: what happened to containers and pods, from the store's event log, as
// docker prints it. Past events from --since, then new ones as they happen, until --until
// or an interrupt. --since also takes a sequence number (below 10^9, where Unix times
// start): a reader that saw event N resumes with --since N and misses nothing.
import type { BerthEvent } from '../events/index.js';
import { invalidArgument } from '../errors/index.js';
import { formatFlag, type Command } from './command.js';
import { compileFormat, templateMap } from './format.js';
import { parseTime } from './options.js';
import { writeOut } from './stdout.js';

const SEQ_LIMIT = 1e9;

function isoNano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** docker's JSON shape for an event, plus berth's sequence number. */
function view(e: BerthEvent) {
  return {
    Seq: e.seq,
    status: e.action,
    id: e.id,
    from: e.attributes.image ?? '',
    Type: e.type,
    Action: e.action,
    // A map, as docker's: an attribute an event lacks is "<no value>", not an error.
    Actor: { ID: e.id, Attributes: templateMap(e.attributes) },
    scope: 'local',
    time: Math.floor(e.time / 1000),
    timeNano: e.time * 1e6,
  };
}

/**
 * What a --format template sees: docker's JSON shape plus the field names templates use
 * for its lower-case keys (docker's Status, ID, From, Time, TimeNano) and podman's
 * (Name, Image), so scripts written for either print the same.
 */
function templateView(e: BerthEvent) {
  const v = view(e);
  return { ...v, Status: v.status, ID: v.id, From: v.from, Time: v.time, TimeNano: v.timeNano, Scope: v.scope, Name: e.attributes.name ?? '', Image: e.attributes.image ?? '' };
}

function line(e: BerthEvent): string {
  const attrs = Object.entries(e.attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${isoNano(e.time)} ${e.type} ${e.action} ${e.id}${attrs ? ` (${attrs})` : ''}\n`;
}

function matcher(filters: string[]): (e: BerthEvent) => boolean {
  const by = new Map<string, string[]>();
  for (const f of filters) {
    const at = f.indexOf('=');
    if (at <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${f}`);
    const k = f.slice(0, at);
    if (!['type', 'event', 'container', 'pod', 'image', 'volume'].includes(k)) throw invalidArgument(`invalid filter '${k}'`);
    by.set(k, [...(by.get(k) ?? []), f.slice(at + 1)]);
  }
  const any = (k: string, test: (v: string) => boolean) => !by.has(k) || by.get(k)!.some(test);
  return (e) =>
    any('type', (v) => v === e.type) &&
    any('event', (v) => v === e.action) &&
    any('container', (v) => e.type === 'container' && (e.id.startsWith(v) || e.attributes.name === v)) &&
    any('volume', (v) => e.type === 'volume' && e.id === v) &&
    any('pod', (v) => (e.type === 'pod' && (e.id.startsWith(v) || e.attributes.name === v)) || e.attributes.pod?.startsWith(v)) &&
    any('image', (v) => e.attributes.image === v);
}

export const eventsCommand: Command = {
  name: 'events',
  usage: 'events [OPTIONS]',
  summary: 'Get real time events from the server',
  flags: [
    { name: 'filter', short: 'f', type: 'strings', value: 'KEY=VALUE', desc: 'Filter output (type, event, container, pod, image, volume)' },
    { name: 'since', type: 'string', value: 'TIME|SEQ', desc: 'Show events created since this time, or after this sequence number' },
    { name: 'until', type: 'string', value: 'TIME', desc: 'Stream events until this time (without it, new events are followed)' },
    formatFlag,
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const log = await ctx.events();
    const since = f.since as string | undefined;
    const until = f.until === undefined ? undefined : parseTime(f.until as string, '--until').getTime();
    const bySeq = since !== undefined && /^\d+$/.test(since) && Number(since) < SEQ_LIMIT;
    // Without --since, only what happens from now on.
    const query = {
      namespace: ctx.namespace,
      afterSeq: bySeq ? Number(since) : since === undefined ? log.lastSeq() : 0,
      since: since !== undefined && !bySeq ? parseTime(since, '--since').getTime() : undefined,
      until,
    };
    const keep = matcher((f.filter as string[] | undefined) ?? []);
    const format = f.format as string | undefined;
    // The template is parsed once, before following: a mistake fails before any event is read.
    const tpl = format === undefined || format === '' || format === 'json' ? undefined : await compileFormat(format);
    const print = (e: BerthEvent) =>
      writeOut(tpl ? tpl.render(templateView(e)) : format === 'json' ? JSON.stringify(view(e)) + '\n' : line(e));
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    const timer = until !== undefined ? setTimeout(onSignal, Math.max(0, until - Date.now() + 250)) : undefined;
    try {
      for await (const e of log.follow(query, stop.signal)) if (keep(e)) print(e);
    } finally {
      clearTimeout(timer);
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    }
  },
};
