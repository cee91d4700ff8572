// The streaming server of berthd: the URLs that CRI Exec, Attach and PortForward return,
// served over HTTP upgrades to WebSocket (the channel protocols) or SPDY/3.1 (kubectl
// through the kubelet's proxy). Each URL holds a single-use token for the request it serves.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { invalidArgument } from '../errors/index.js';
import { log } from '../log/index.js';
import { RequestTokens } from './tokens.js';
import type { AttachStreamRequest, ExecStreamRequest, PortForwardStreamRequest, StreamRequest, StreamRuntime } from './types.js';
import { COMMAND_PROTOCOLS, pickProtocol, serveCommandWebSocket } from './websocket.js';
import { PORT_FORWARD_WS_PROTOCOLS, portsFromQuery, selectPortForwardProtocol, servePortForwardWebSocket } from './port-forward-ws.js';
import { servePortForwardSession } from './port-forward.js';
import { SPDY_COMMAND_PROTOCOLS, serveCommandSpdy } from './spdy-command.js';
import { upgradeToSpdy } from './spdy/index.js';

/** The port-forward protocol over SPDY. */
const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

/** A connection that carries nothing this long is closed (the kubelet's default idle timeout). */
const IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;

export interface StreamServerOptions {
  /** host:port to listen on; port 0 picks a free one. */
  address: string;
  idleTimeoutMs?: number;
  /** How long a token stays valid (ms). */
  tokenTtlMs?: number;
}

export class StreamServer {
  private readonly tokens: RequestTokens;
  private readonly sessions = new Set<Duplex>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (p) => pickProtocol(p, COMMAND_PROTOCOLS) });
  // Port-forward has protocols of its own (v4 only: a v5 client would expect its close signal).
  private readonly portForwardWss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (p) => selectPortForwardProtocol(p) });

  private constructor(
    private readonly http: Server,
    private readonly runtime: StreamRuntime,
    /** http://host:port, the base of every URL handed out. */
    readonly baseUrl: string,
    private readonly o: StreamServerOptions,
  ) {
    this.tokens = new RequestTokens(o.tokenTtlMs);
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    http.on('request', (_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Upgrade request required\n');
    });
    http.on('clientError', (_e, socket: Duplex) => socket.destroy());
  }

  static async listen(runtime: StreamRuntime, o: StreamServerOptions): Promise<StreamServer> {
    const { host, port } = parseAddress(o.address);
    const http = createServer();
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    http.on('error', (e) => log.error('streaming server error', { error: e.message }));
    const bound = http.address() as { address: string; port: number };
    return new StreamServer(http, runtime, `http://${urlHost(host)}:${bound.port}`, o);
  }

  exec(req: Omit<ExecStreamRequest, 'kind'>): string {
    return this.url({ kind: 'exec', ...req });
  }

  attach(req: Omit<AttachStreamRequest, 'kind'>): string {
    return this.url({ kind: 'attach', ...req });
  }

  portForward(req: Omit<PortForwardStreamRequest, 'kind'>): string {
    return this.url({ kind: 'portforward', ...req });
  }

  /** Stops listening and ends every session. */
  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private url(req: StreamRequest): string {
    return `${this.baseUrl}/${req.kind}/${this.tokens.add(req)}`;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (e) => log.debug('streaming connection error', { error: e.message }));
    const refuse = (status: number, text: string, message: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(message) + 1}\r\n\r\n${message}\n`);
    };
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)(?:\?.*)?$/.exec(req.url ?? '');
    if (!m) return refuse(404, 'Not Found', 'no such streaming endpoint');
    const kind = m[1] as StreamRequest['kind'];
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    const spdy = upgrade.split(',').map((v) => v.trim()).includes('spdy/3.1');
    if (upgrade !== 'websocket' && !spdy) return refuse(400, 'Bad Request', `unsupported upgrade "${req.headers.upgrade ?? ''}": use websocket or SPDY/3.1`);
    // The protocol is checked before the token is used up: a client may retry with another.
    const offered = spdy
      ? (req.headersDistinct['x-stream-protocol-version'] ?? []).flatMap((v) => v.split(','))
      : (req.headers['sec-websocket-protocol'] ?? '').split(',');
    const wanted = offered.map((p) => p.trim()).filter(Boolean);
    const served = spdy ? (kind === 'portforward' ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_COMMAND_PROTOCOLS) : Object.keys(kind === 'portforward' ? PORT_FORWARD_WS_PROTOCOLS : COMMAND_PROTOCOLS).filter(Boolean);
    if ((spdy || wanted.length > 0) && !wanted.some((p) => served.includes(p))) {
      return refuse(spdy ? 403 : 400, spdy ? 'Forbidden' : 'Bad Request', `requested protocol(s) are not supported: ${wanted.join(', ') || 'none'}; supported: ${served.join(', ')}`);
    }
    const request = this.tokens.take(m[2]);
    if (!request || request.kind !== kind) return refuse(404, 'Not Found', 'invalid or expired streaming token');
    let ports: number[] = [];
    if (request.kind === 'portforward' && !spdy) {
      // kubelet: the CRI request's ports, else the URL's (a client naming its own).
      ports = request.ports;
      try {
        if (ports.length === 0) ports = portsFromQuery(new URL(req.url ?? '/', 'http://stream').searchParams);
      } catch (e) {
        return refuse(400, 'Bad Request', (e as Error).message);
      }
      if (ports.length === 0) return refuse(400, 'Bad Request', 'query parameter "port" is required');
    }
    this.track(socket);
    const failed = (e: unknown) => log.error('streaming session failed', { kind: request.kind, error: (e as Error).message });
    if (spdy) {
      const up = upgradeToSpdy(req, socket, head, served);
      if (!up) return;
      up.session.on('error', (e: Error) => log.debug('spdy session error', { error: e.message }));
      if (request.kind === 'portforward') {
        this.runtime
          .podNetwork(request.podId)
          .then(({ netnsPath }) => servePortForwardSession(up.session, { netnsPath, pod: request.podId }))
          .catch((e: unknown) => {
            failed(e);
            up.session.close();
          });
      } else {
        serveCommandSpdy(up.session, up.protocol, this.runtime, request).catch((e: unknown) => {
          failed(e);
          up.session.close();
        });
      }
      return;
    }
    if (request.kind === 'portforward') {
      this.portForwardWss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        this.runtime
          .podNetwork(request.podId)
          .then(({ netnsPath }) => servePortForwardWebSocket(ws, { netnsPath, pod: request.podId }, ports))
          .catch((e: unknown) => {
            failed(e);
            ws.close(1011, (e as Error).message.slice(0, 120));
          });
      });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      serveCommandWebSocket(ws, this.runtime, request).catch((e: unknown) => {
        failed(e);
        ws.terminate();
      });
    });
  }

  /** A session's connection: closed when idle too long and on shutdown. */
  private track(socket: Duplex): void {
    this.sessions.add(socket);
    socket.once('close', () => this.sessions.delete(socket));
    const s = socket as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
    s.setTimeout?.(this.o.idleTimeoutMs ?? IDLE_TIMEOUT_MS, () => {
      log.info('streaming connection idle: closing it');
      socket.destroy();
    });
  }
}

function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw invalidArgument(`bad stream server address "${address}": expected HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw invalidArgument(`bad stream server address "${address}": port out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The host for URLs: a wildcard address is not one a client can reach, so name this node's. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') {
    const addrs = Object.values(networkInterfaces()).flat();
    const ip = addrs.find((a) => a && !a.internal && a.family === 'IPv4');
    return ip ? ip.address : '127.0.0.1';
  }
  return host.includes(':') ? `[${host}]` : host;
}
