// HTTP(S) to registries with node:http/https (per-host CAs and client certificates need
// our own agents). TLS trusts Node's CAs, the system bundle and
// <certsDir>/HOST[:PORT]/*.crt; client certificates are the *.cert/*.key pairs there.
// Plain HTTP only for registries marked insecure (which also skip TLS verification), as
// podman does: HTTPS is tried first and HTTP used when the server does not speak TLS.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { BerthError, unavailable } from '../errors/index.js';
import { registryEndpoint } from './endpoint.js';

const DEFAULT_CERTS_DIR = '/etc/containers/certs.d';
const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface TransportOptions {
  /** Per-host certificates: <certsDir>/HOST[:PORT]/{*.crt,*.cert,*.key}. */
  certsDir?: string;
  /** false: skip TLS verification and allow plain HTTP for every registry (podman --tls-verify=false). */
  tlsVerify?: boolean;
  /** A connection idle this long fails (a registry that stops sending). */
  idleTimeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  url: URL;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

// Read once per process, and again after refreshTransports(): a long-running process
// calls that on reload, when the system bundle or certs.d may have changed.
let systemCas: string[] | undefined;
let generation = 0;

/** Drops what every Transport cached (system CAs, per-host agents and their certs.d files,
 *  http/https probes): the next request reads and probes again. */
export function refreshTransports(): void {
  systemCas = undefined;
  generation++;
}

function systemCertificates(): string[] {
  if (!systemCas) {
    systemCas = [...rootCertificates];
    try {
      systemCas.push(readFileSync(SYSTEM_CA_BUNDLE, 'utf8'));
    } catch {
      // no system bundle: Node's own list
    }
  }
  return systemCas;
}

export class Transport {
  private readonly certsDir: string;
  private readonly tlsVerify: boolean;
  private readonly idleTimeoutMs: number;
  private readonly agents = new Map<string, http.Agent>();
  private readonly bases = new Map<string, Promise<string>>();
  private generation = generation;
  private readonly retired = new Set<http.Agent>();

  constructor(opts: TransportOptions = {}) {
    this.certsDir = opts.certsDir ?? DEFAULT_CERTS_DIR;
    this.tlsVerify = opts.tlsVerify ?? true;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  }

  /** The base URL of a registry's API: https://, or http:// for an insecure one that does not speak TLS (Docker Hub: its API host). */
  base(host: string, insecure: boolean): Promise<string> {
    this.refreshIfStale();
    const key = `${host} ${insecure}`;
    let p = this.bases.get(key);
    if (!p) {
      p = this.probe(host, insecure || !this.tlsVerify);
      this.bases.set(key, p);
      p.catch(() => this.bases.delete(key));
    }
    return p;
  }

  private async probe(name: string, insecure: boolean): Promise<string> {
    const host = registryEndpoint(name);
    if (!insecure) return `https://${host}`;
    try {
      const res = await this.request(new URL(`https://${host}/v2/`), { insecure: true });
      res.body.resume();
      return `https://${host}`;
    } catch (e) {
      if (e instanceof BerthError && /connection refused|unknown host/.test(e.message)) throw e;
      return `http://${host}`;
    }
  }

  async request(url: URL, opts: RequestOptions & { insecure?: boolean } = {}): Promise<HttpResponse> {
    const isHttps = url.protocol === 'https:';
    const agent = this.agent(url, opts.insecure || !this.tlsVerify);
    const mod = isHttps ? https : http;
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = mod.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent, signal: opts.signal });
      req.setTimeout(this.idleTimeoutMs, () => req.destroy(unavailable(`${url.host}: no response for ${Math.round(this.idleTimeoutMs / 1000)}s`)));
      req.on('error', (e) => reject(networkError(e, url)));
      req.on('response', (res) => {
        res.setTimeout(this.idleTimeoutMs, () => res.destroy(unavailable(`${url.host}: the transfer stalled for ${Math.round(this.idleTimeoutMs / 1000)}s`)));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      const body = opts.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }

  /** Closes idle keep-alive connections so the process can exit. */
  close(): void {
    for (const a of [...this.agents.values(), ...this.retired]) a.destroy();
    this.agents.clear();
    this.retired.clear();
  }

  /** Forgets agents and probes made before the last refreshTransports(). */
  private refreshIfStale(): void {
    if (this.generation === generation) return;
    this.generation = generation;
    this.bases.clear();
    // Requests in flight finish on their sockets; idle ones close now, the rest in close().
    for (const a of this.agents.values()) {
      for (const sockets of Object.values(a.freeSockets)) for (const s of sockets ?? []) s.destroy();
      this.retired.add(a);
    }
    this.agents.clear();
  }

  private agent(url: URL, insecure: boolean): http.Agent {
    this.refreshIfStale();
    const key = `${url.protocol}//${url.host} ${insecure}`;
    let agent = this.agents.get(key);
    if (agent) return agent;
    if (url.protocol !== 'https:') agent = new http.Agent({ keepAlive: true });
    else agent = new https.Agent({ keepAlive: true, rejectUnauthorized: !insecure, ...this.tlsFiles(url.host) });
    this.agents.set(key, agent);
    return agent;
  }

  /** CA and client-certificate options from <certsDir>/<host>/. */
  private tlsFiles(host: string): https.AgentOptions {
    const dir = join(this.certsDir, host);
    if (!existsSync(dir)) return {};
    const names = readdirSync(dir).sort();
    const read = (n: string) => readFileSync(join(dir, n), 'utf8');
    const out: https.AgentOptions = {};
    const cas = names.filter((n) => n.endsWith('.crt')).map(read);
    if (cas.length) out.ca = [...systemCertificates(), ...cas];
    const cert = names.find((n) => n.endsWith('.cert'));
    if (cert) {
      const key = cert.slice(0, -'.cert'.length) + '.key';
      if (!names.includes(key)) throw unavailable(`${join(dir, cert)}: its key ${key} is missing`);
      out.cert = read(cert);
      out.key = read(key);
    }
    return out;
  }
}

function networkError(e: unknown, url: URL): Error {
  if (e instanceof BerthError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.name === 'AbortError') return err;
  const host = url.host;
  switch (err?.code) {
    case 'ECONNREFUSED':
      return unavailable(`registry ${host}: connection refused (is it running?)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return unavailable(`registry ${host}: unknown host`);
    case 'ECONNRESET':
      return unavailable(`registry ${host}: connection reset`);
    case 'ETIMEDOUT':
      return unavailable(`registry ${host}: connection timed out`);
    default:
      if (/wrong version number|packet length too long/.test(err?.message ?? ''))
        return unavailable(`registry ${host}: TLS: the registry does not speak HTTPS (mark a plain-HTTP registry insecure in registries.conf)`);
      if (err?.code === 'EPROTO' || err?.code?.startsWith('ERR_SSL') || err?.code?.includes('CERT') || /certificate|SSL|TLS/i.test(err?.message ?? ''))
        return unavailable(`registry ${host}: TLS: ${err.message.split(':').slice(-2).join(':').trim() || err.message} (trust its CA in certs.d, or mark it insecure in registries.conf)`);
      return unavailable(`registry ${host}: ${err?.message ?? String(e)}`);
  }
}
