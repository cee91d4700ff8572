// The Docker Engine API over HTTP/1.1 on a unix socket: routing (versioned and plain
// paths), request bodies, errors as {"message"} with docker's statuses (from the one table
// in errors/), hijacked connections (attach, exec start), the idle timeout of
// `berth system service --time` and a graceful close (berthd's SIGTERM). Handlers
// translate to engine calls, nothing more.
import { chmodSync, rmSync, statSync } from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseDuration } from '../cli/healthcheck.js';
import type { Engine } from '../engine/index.js';
import { BerthError, httpStatusOf, invalidArgument } from '../errors/index.js';
import { log } from '../log/index.js';

/**
 * The API version served: clients negotiate down to it (1.42+ clients send a TTY's size
 * with the exec and the create, so a process starts with it). Paths up to
 * MAX_PATH_VERSION (what the docker CLI 28 speaks) are served the same.
 */
export const API_VERSION = '1.43';
export const MIN_API_VERSION = '1.24';
const MAX_PATH_VERSION = '1.50';

export interface Request {
  method: string;
  path: string;
  params: string[];
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** The request body as JSON (undefined when empty). */
  json<T>(): Promise<T | undefined>;
  /** The raw body. */
  body: http.IncomingMessage;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  engine: Engine;
}

export interface Reply {
  json(status: number, value: unknown): void;
  empty(status: number): void;
  /** Starts a streamed answer (progress lines, logs, events). */
  stream(status: number, headers: http.OutgoingHttpHeaders): NodeJS.WritableStream;
  /**
   * Takes the connection over (attach, exec start): writes the 101 (or 200 for a client
   * that did not ask to upgrade) and hands back the raw socket.
   */
  hijack(contentType: string): Duplex;
}

export type Handler = (req: Request, reply: Reply) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];
  add(method: string, path: string, handler: Handler): this {
    // {name} matches one segment; {name*} the rest (image names have slashes).
    const re = path.replace(/\{[a-z]+\*\}/g, '(.+)').replace(/\{[a-z]+\}/g, '([^/]+)');
    this.routes.push({ method, pattern: new RegExp(`^${re}$`), handler });
    return this;
  }
  match(method: string, path: string): { handler: Handler; params: string[] } | 'method' | undefined {
    let methodMismatch = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { handler: r.handler, params: m.slice(1).map(decodeURIComponent) };
      methodMismatch = true;
    }
    return methodMismatch ? 'method' : undefined;
  }
}

const MAX_JSON_BODY = 16 << 20;

function readJson<T>(body: http.IncomingMessage): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_JSON_BODY) {
        reject(invalidArgument(`request body larger than ${MAX_JSON_BODY} bytes`));
        body.destroy();
      } else chunks.push(c);
    });
    body.on('error', reject);
    body.on('end', () => {
      try {
        resolve(parseJson<T>(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function parseJson<T>(bytes: Buffer): T | undefined {
  const text = bytes.toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw invalidArgument('the request body is not valid JSON');
  }
}

/** The first n bytes of a socket; what came after them is put back. */
function takeBytes(s: Duplex, n: number): Promise<Buffer> {
  if (!(n > 0)) return Promise.resolve(Buffer.alloc(0));
  if (n > MAX_JSON_BODY) return Promise.reject(invalidArgument(`request body larger than ${MAX_JSON_BODY} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (e?: Error) => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', done);
      s.pause();
      if (e) return reject(e);
      const all = Buffer.concat(chunks);
      if (all.length > n) s.unshift(all.subarray(n));
      resolve(all.subarray(0, n));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) done();
    };
    const onEnd = () => done(invalidArgument('the request body ended early'));
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', done);
  });
}

/** Docker's version prefix: /v1.41/containers/json → 1.41, /containers/json. */
function splitVersion(path: string): { version?: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  return m ? { version: m[1], path: m[2] } : { path };
}

function versionNumber(v: string): number {
  const [a, b] = v.split('.').map(Number);
  return a * 1000 + b;
}

export function commonHeaders(): http.OutgoingHttpHeaders {
  return { 'Api-Version': API_VERSION, Ostype: 'linux', Server: 'berth (linux)', 'Docker-Experimental': 'false' };
}

export interface ServiceOptions {
  engine: Engine;
  router: Router;
  socketPath: string;
  /** Seconds without a connection before the service ends; 0: never. */
  idleSeconds: number;
  /**
   * At the signal, how long answers under way may take to finish; streams (logs, events,
   * pull progress) and hijacked connections end at once, as do all answers when 0.
   */
  graceMs?: number;
  /** Ends the service (SIGTERM, SIGINT). */
  signal?: AbortSignal;
}

export interface Service {
  /** Resolves once the socket is closed and every request has settled. */
  closed: Promise<void>;
}

/** Listens on the socket (the caller has claimed the path); resolves once it serves. */
export async function serve(o: ServiceOptions): Promise<Service> {
  const server = http.createServer({ keepAlive: true });
  const sockets = new Set<net.Socket>();
  /** Connections answering a request, and whether the answer is a stream or a plain one. */
  const busy = new Map<Duplex, 'answer' | 'stream'>();
  const requests = new Set<Promise<void>>();
  let idle: NodeJS.Timeout | undefined;
  let forced: NodeJS.Timeout | undefined;
  let closing = false;
  const close = () => {
    if (closing) return;
    closing = true;
    clearTimeout(idle);
    server.close();
    for (const s of sockets) if (busy.get(s) !== 'answer' || !o.graceMs) s.destroy();
    if (o.graceMs) forced = setTimeout(() => sockets.forEach((s) => s.destroy()), o.graceMs);
  };
  const armIdle = () => {
    clearTimeout(idle);
    if (o.idleSeconds > 0 && sockets.size === 0 && !closing) idle = setTimeout(close, o.idleSeconds * 1000);
  };
  const streaming = (s: Duplex) => {
    busy.set(s, 'stream');
    if (closing) s.destroy();
  };
  const track = (p: Promise<void>) => {
    requests.add(p);
    void p.finally(() => requests.delete(p));
  };
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    clearTimeout(idle);
    s.on('error', () => {}); // a client that resets its connection ends only its requests
    s.on('close', () => {
      sockets.delete(s);
      busy.delete(s);
      armIdle();
    });
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const s = req.socket;
    busy.set(s, 'answer');
    res.once('close', () => {
      if (busy.get(s) === 'answer') busy.delete(s);
      // Closing: the connection ends with this answer, no keep-alive.
      if (closing) s.destroySoon();
    });
    track(dispatch(o, req, res, undefined, () => streaming(s)));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (head.length) socket.unshift(head);
    streaming(socket);
    track(dispatch(o, req, undefined, socket, () => {}));
  });
  server.on('clientError', (_e, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let ino: number;
  try {
    chmodSync(o.socketPath, 0o660);
    ino = statSync(o.socketPath).ino;
  } catch (e) {
    server.close();
    throw e;
  }
  o.signal?.addEventListener('abort', close, { once: true });
  if (o.signal?.aborted) close();
  armIdle();
  const closed = (async () => {
    await new Promise<void>((resolve) => server.once('close', () => resolve()));
    clearTimeout(forced);
    while (requests.size > 0) await Promise.allSettled([...requests]);
    // Only the socket this service made: another may have taken the path since.
    try {
      if (statSync(o.socketPath).ino === ino) rmSync(o.socketPath, { force: true });
    } catch {
      // already gone (the listener's close unlinks it)
    }
  })();
  return { closed };
}

/** One request; onStream: its answer became a stream (or took the connection over). */
async function dispatch(o: ServiceOptions, req: http.IncomingMessage, res: http.ServerResponse | undefined, socket: Duplex | undefined, onStream: () => void): Promise<void> {
  const ac = new AbortController();
  const url = new URL(req.url ?? '/', 'http://localhost');
  const { version, path } = splitVersion(url.pathname);
  log.debug('docker api request', { method: req.method, url: req.url, upgrade: !!socket });
  let started = false;
  const conn = res ?? socket!;
  conn.on('close', () => ac.abort(new BerthError('Cancelled', 'the client went away')));
  req.on('error', () => {});
  res?.on('error', () => {});

  const writeHead = (status: number, headers: http.OutgoingHttpHeaders) => {
    started = true;
    const all = { ...commonHeaders(), ...headers };
    if (res) {
      res.writeHead(status, all);
      return;
    }
    const lines = Object.entries(all).map(([k, v]) => `${k}: ${v}`);
    socket!.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${lines.join('\r\n')}\r\n\r\n`);
  };
  const reply: Reply = {
    json(status, value) {
      const body = JSON.stringify(value) + '\n';
      writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      if (res) res.end(req.method === 'HEAD' ? undefined : body);
      else socket!.end(body);
    },
    empty(status) {
      writeHead(status, { 'Content-Length': 0 });
      if (res) res.end();
      else socket!.end();
    },
    stream(status, headers) {
      onStream();
      writeHead(status, headers);
      if (res) {
        res.flushHeaders();
        return res;
      }
      return socket!;
    },
    hijack(contentType) {
      onStream();
      if (res) {
        // A client that did not ask to upgrade still gets the raw stream on this connection.
        writeHead(200, { 'Content-Type': contentType });
        res.flushHeaders();
        const s = res.socket!;
        return s;
      }
      started = true;
      socket!.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
      return socket!;
    },
  };

  try {
    if (version && versionNumber(version) > versionNumber(MAX_PATH_VERSION))
      throw invalidArgument(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
    if (version && versionNumber(version) < versionNumber(MIN_API_VERSION))
      throw invalidArgument(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
    const found = o.router.match(req.method ?? 'GET', path);
    if (found === 'method') throw new BerthError('Unimplemented', `${req.method} ${path} is not implemented`);
    if (!found) throw new BerthError('Unimplemented', `${req.method} ${path}: not implemented by berth's Docker API`);
    await found.handler(
      {
        method: req.method ?? 'GET',
        path,
        params: found.params,
        query: url.searchParams,
        headers: req.headers,
        // An upgraded request's body is on the socket, before the stream that follows it.
        json: <T>() => (socket ? takeBytes(socket, Number(req.headers['content-length'] ?? 0)).then((b) => parseJson<T>(b)) : readJson<T>(req)),
        body: req,
        signal: ac.signal,
        engine: o.engine,
      },
      reply,
    );
  } catch (e) {
    const status = e instanceof BerthError ? httpStatusOf(e) : 500;
    const message = e instanceof Error ? e.message : String(e);
    if (status >= 500) log.warn('docker api request failed', { method: req.method, path, error: message });
    if (!started) reply.json(status, { message });
    else if (res && !res.writableEnded) res.end();
    else socket?.end();
  }
}

/** docker's true/false/1/0 query flags. */
export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return v === '1' || v.toLowerCase() === 'true';
}

/** A label filter's value, KEY or KEY=VALUE, against an object's labels. */
export function labelsMatch(labels: Record<string, string>, want: string): boolean {
  const i = want.indexOf('=');
  return i < 0 ? want in labels : labels[want.slice(0, i)] === want.slice(i + 1);
}

/** docker's JSON filters query: {"label":["a=b"],"status":{"exited":true}} → key=value list. */
export function filterParam(q: URLSearchParams): [string, string][] {
  const raw = q.get('filters');
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid filters: ${raw}`);
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries((parsed ?? {}) as Record<string, unknown>)) {
    if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
    else if (v && typeof v === 'object') for (const [x, on] of Object.entries(v)) if (on) out.push([k, x]);
    else throw invalidArgument(`invalid filters: ${raw}`);
  }
  return out;
}

/**
 * A prune's `until` (ms): unix seconds, an RFC 3339 time, or a Go duration back from now;
 * what was created before it goes.
 */
export function pruneUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (/^[\d.]+[a-z\u00b5]+/.test(v)) return Date.now() - parseDuration(v, 'until');
  const t = new Date(v).getTime();
  if (Number.isNaN(t)) throw invalidArgument(`failed to parse value as time or duration: "${v}"`);
  return t;
}
