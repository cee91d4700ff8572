// /containers/…: list, inspect, create, start/stop/kill/restart, wait, remove, logs,
// attach (hijacked, docker's stream framing), resize, rename.
import { Writable } from 'node:stream';
import { configFromFlags } from '../cli/run.js';
import { containerInspectView, statusText } from '../cli/container.js';
import { statusWord } from '../cli/container-filter.js';
import type { Container, ContainerManager } from '../container/index.js';
import type { Engine } from '../engine/index.js';
import { failedPrecondition, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { flagsFromCreateBody, type CreateBody } from './create.js';
import { endpointId, networkId } from './ids.js';
import { boolParam, filterParam, labelsMatch, type Reply, type Request, type Router } from './server.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** The container ref names, in docker's words when it is not there. */
export async function lookup(engine: Engine, ref: string): Promise<{ mgr: ContainerManager; c: Container }> {
  const mgr = await engine.containers();
  try {
    return { mgr, c: await mgr.get(ref) };
  } catch (e) {
    if (isBerthError(e, 'NotFound')) throw notFound(`No such container: ${ref}`);
    throw e;
  }
}

/** docker's stream framing: [stream, 0, 0, 0, size (big endian)] + payload. */
export function framed(out: NodeJS.WritableStream, stream: 1 | 2): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(chunk.length, 4);
      out.write(Buffer.concat([head, chunk]), (e) => cb(e ?? undefined));
    },
  });
}

export function listView(mgr: ContainerManager, c: Container) {
  const n = c.network;
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.config.image,
    ImageID: c.imageId ? `sha256:${c.imageId}` : '',
    Command: (c.config.args ?? []).join(' '),
    Created: Math.floor(c.createdAt / 1000),
    Ports: (n?.portMappings ?? []).map((m) => ({ IP: m.hostIP || '0.0.0.0', PrivatePort: m.containerPort, PublicPort: m.hostPort, Type: m.protocol })),
    Labels: c.config.labels ?? {},
    State: statusWord(c),
    Status: statusText(mgr, c),
    HostConfig: { NetworkMode: networkMode(c) },
    NetworkSettings: {
      Networks: Object.fromEntries(
        (n?.attachments ?? []).map((a) => [a.network, { IPAddress: a.ips[0] ?? '', Gateway: a.gateways[0] ?? '', MacAddress: a.mac ?? '', NetworkID: networkId(a.network), EndpointID: endpointId(c.id, a.network) }]),
      ),
    },
    Mounts: (c.config.mounts ?? []).flatMap((m) => (m.type === 'tmpfs' ? [] : [{ Type: m.type, Destination: m.destination }])),
  };
}

function networkMode(c: Container): string {
  if (c.config.joinedContainer) return `container:${c.config.joinedContainer}`;
  const net = c.config.network;
  if (net?.mode === 'none' || net?.mode === 'host') return net.mode;
  return net?.networks?.[0] ?? 'bridge';
}

function listFilter(c: Container, [k, v]: [string, string]): boolean {
  switch (k) {
    case 'id':
      return c.id.startsWith(v);
    case 'name':
      return new RegExp(v.replace(/^\//, '')).test(c.name);
    case 'status':
      return statusWord(c) === v;
    case 'exited':
      return c.state === 'stopped' && String(c.exitCode) === v;
    case 'ancestor':
      return c.config.image === v || c.config.image.endsWith(`/${v}`) || c.config.image === `${v}:latest` || (!!c.imageId && v.replace(/^sha256:/, '').length >= 12 && c.imageId.startsWith(v.replace(/^sha256:/, '')));
    case 'label':
      return labelsMatch(c.config.labels ?? {}, v);
    case 'network':
      return (c.config.network?.networks ?? ['bridge']).includes(v) || networkMode(c) === v;
    default:
      throw invalidArgument(`invalid filter '${k}'`);
  }
}

/** waits for: next-exit (default), not-running, removed. */
async function waitFor(mgr: ContainerManager, c: Container, condition: string, signal: AbortSignal): Promise<number> {
  if (condition === 'not-running' && c.state !== 'running' && c.state !== 'created') return c.exitCode ?? 0;
  let current = c;
  // A stopped container's next exit is that of its next run.
  while (condition !== 'not-running' && current.state === 'stopped' && current.startedAt === c.startedAt) {
    await sleep(100, signal);
    current = await mgr.get(c.id);
  }
  const code = await mgr.wait(c.id, signal);
  if (condition === 'removed') {
    for (;;) {
      try {
        await mgr.get(c.id);
      } catch (e) {
        if (isBerthError(e, 'NotFound')) break;
        throw e;
      }
      await sleep(50, signal);
    }
  }
  return code;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

function secondsParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalidArgument(`invalid ${name} "${v}": a number of seconds`);
  return n < 0 ? undefined : n;
}

/** docker's since/until: unix seconds (with a fraction) or RFC 3339. */
function timeParam(q: URLSearchParams, name: string): Date | undefined {
  const v = q.get(name);
  if (!v || v === '0') return undefined;
  const d = /^\d+(\.\d+)?$/.test(v) ? new Date(Number(v) * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) throw invalidArgument(`invalid ${name} "${v}"`);
  return d;
}

async function logs(req: Request, reply: Reply): Promise<void> {
  const { mgr, c } = await lookup(req.engine, req.params[0]);
  const q = req.query;
  const stdout = boolParam(q, 'stdout');
  const stderr = boolParam(q, 'stderr');
  if (!stdout && !stderr) throw invalidArgument('Bad parameters: you must choose at least one stream');
  const tailText = q.get('tail');
  const tail = tailText && tailText !== 'all' ? Number(tailText) : undefined;
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw invalidArgument(`invalid tail "${tailText}"`);
  const timestamps = boolParam(q, 'timestamps');
  const tty = !!c.config.tty;
  // Before the answer's head: a container without a log is an error status.
  const lines = mgr.logs(c, { tail, since: timeParam(q, 'since'), until: timeParam(q, 'until'), follow: boolParam(q, 'follow'), signal: req.signal });
  const out = reply.stream(200, { 'Content-Type': tty ? RAW_STREAM : MULTIPLEXED_STREAM });
  const streams = { stdout: tty ? out : framed(out, 1), stderr: tty ? out : framed(out, 2) };
  for await (const line of lines) {
    if ((line.stream === 'stdout' && !stdout) || (line.stream === 'stderr' && !stderr)) continue;
    const text = Buffer.concat([timestamps ? Buffer.from(`${line.time} `) : Buffer.alloc(0), line.text, line.partial ? Buffer.alloc(0) : Buffer.from('\n')]);
    const w = streams[line.stream];
    if (!w.write(text)) await new Promise<void>((r) => w.once('drain', () => r()));
  }
  out.end();
}

/**
 * POST /containers/{id}/attach: the client's connection becomes the container's stdio.
 * Non-TTY output is framed (stdout 1, stderr 2); stdin is raw.
 */
async function attach(req: Request, reply: Reply): Promise<void> {
  const { mgr, c } = await lookup(req.engine, req.params[0]);
  const q = req.query;
  if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition('You cannot attach to a stopped container, start it first');
  const tty = !!c.config.tty;
  const wantStdin = boolParam(q, 'stdin') && !!c.config.stdin;
  const sock = reply.hijack(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const ac = new AbortController();
  sock.on('close', () => ac.abort());
  const discard = new Writable({ write: (_c, _e, cb) => cb() });
  const session = await mgr.attach(c.id, {
    stdin: wantStdin ? sock : undefined,
    stdout: boolParam(q, 'stdout') ? (tty ? sock : framed(sock, 1)) : discard,
    stderr: boolParam(q, 'stderr') ? (tty ? sock : framed(sock, 2)) : discard,
    detachKeys: q.get('detachKeys') ?? undefined,
    signal: ac.signal,
  });
  await session.done;
  sock.end();
}

export function containerRoutes(router: Router): void {
  router
    .add('GET', '/containers/json', async (req, reply) => {
      const mgr = await req.engine.containers();
      const filters = filterParam(req.query);
      const all = boolParam(req.query, 'all') || filters.some(([k]) => k === 'status' || k === 'exited');
      let list = (await mgr.list({ all })).filter((c) => filters.every((f) => listFilter(c, f)));
      const limit = Number(req.query.get('limit') ?? -1);
      if (limit > 0) list = list.slice(0, limit);
      reply.json(200, list.map((c) => listView(mgr, c)));
    })
    .add('POST', '/containers/create', async (req, reply) => {
      const body = await req.json<CreateBody>();
      const name = req.query.get('name');
      const { flags, args } = flagsFromCreateBody(body ?? {}, name ? name.replace(/^\//, '') : null);
      const mgr = await req.engine.containers();
      const images = await req.engine.images();
      try {
        images.resolve(args[0]);
      } catch (e) {
        if (isBerthError(e, 'NotFound')) throw notFound(`No such image: ${args[0]}`);
        throw e;
      }
      const c = await mgr.create(await configFromFlags(flags, args), { signal: req.signal });
      reply.json(201, { Id: c.id, Warnings: [] });
    })
    .add('GET', '/containers/{id}/json', async (req, reply) => {
      const { c } = await lookup(req.engine, req.params[0]);
      const view = await containerInspectView(req.engine, c);
      // docker has no State.Health without a health check (compose's `ps` shows it).
      const { Health, ...state } = view.State as typeof view.State & { Health?: { Status?: string } };
      const State = Health?.Status ? view.State : state;
      // The logs endpoint serves every container's log: clients (compose) read logs only
      // from the drivers they know to have them.
      const maxSize = c.config.logSizeMax;
      const HostConfig = { ...view.HostConfig, LogConfig: { Type: c.config.logDriver === 'none' ? 'none' : 'json-file', Config: maxSize ? { 'max-size': String(maxSize) } : {} } };
      // A network's ID as /networks serves it (berth's views name networks by name).
      const attached = new Set((c.network?.attachments ?? []).map((a) => a.network));
      const Networks = Object.fromEntries(
        Object.entries(view.NetworkSettings.Networks).map(([name, n]) => [name, { ...n, NetworkID: networkId(n.NetworkID), EndpointID: attached.has(name) ? endpointId(c.id, name) : '' }]),
      );
      const NetworkSettings = { ...view.NetworkSettings, Networks };
      reply.json(200, { ...view, State, HostConfig, NetworkSettings, Name: `/${c.name}`, Config: { ...view.Config, AttachStdin: false, AttachStdout: false, AttachStderr: false, StdinOnce: false } });
    })
    .add('POST', '/containers/{id}/start', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      if (c.state === 'running') return reply.empty(304);
      await mgr.start(c.id, { signal: req.signal });
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/stop', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      if (c.state !== 'running') return reply.empty(304);
      await mgr.stop(c.id, { timeout: secondsParam(req.query, 't'), signal: req.signal });
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/restart', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      await mgr.restart(c.id, { timeout: secondsParam(req.query, 't'), signal: req.signal });
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/kill', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      if (c.state !== 'running') throw failedPrecondition(`Container ${c.id} is not running`);
      await mgr.kill(c.id, req.query.get('signal') || 'KILL');
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/wait', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      const condition = req.query.get('condition') || 'not-running';
      if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalidArgument(`invalid condition: "${condition}"`);
      // Headers go out at once: the client knows the wait is in place (docker run starts the container then).
      const out = reply.stream(200, { 'Content-Type': 'application/json' });
      let body: unknown;
      try {
        body = { StatusCode: await waitFor(mgr, c, condition, req.signal), Error: null };
      } catch (e) {
        body = { StatusCode: -1, Error: { Message: (e as Error).message } };
      }
      out.end(JSON.stringify(body) + '\n');
    })
    .add('DELETE', '/containers/{id}', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      const force = boolParam(req.query, 'force');
      // A created container is removed without force, as docker does (berth's has a monitor waiting).
      if (c.state === 'running' && !force)
        throw failedPrecondition(`You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
      await mgr.remove(c.id, { force: true, volumes: boolParam(req.query, 'v') });
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/rename', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      const name = req.query.get('name');
      if (!name) throw invalidArgument('name is required');
      await mgr.rename(c.id, name.replace(/^\//, ''));
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/resize', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      const rows = Number(req.query.get('h'));
      const cols = Number(req.query.get('w'));
      if (!(rows > 0 && cols > 0)) throw invalidArgument('resize needs h and w');
      await mgr.resize(c.id, { rows, cols });
      reply.empty(200);
    })
    .add('GET', '/containers/{id}/logs', logs)
    .add('POST', '/containers/{id}/attach', attach);
}

