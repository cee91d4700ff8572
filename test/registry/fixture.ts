// A real CNCF distribution registry (docker-registry) on 127.0.0.1 for one test, images
// pushed into it by skopeo, and the pieces for its auth modes (htpasswd; a bearer-token
// server written here that signs JWTs the registry trusts).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, createSign, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxTarball } from '../helpers/index.js';

type After = { after: (fn: () => unknown) => void };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function tempDir(t: After, name: string): string {
  const dir = mkdtempSync(`/tmp/berth-test-${name}-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Registry {
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  /** Serve HTTPS with this certificate and key. */
  tls?: { cert: string; key: string };
  htpasswd?: string;
  token?: { realm: string; service: string; issuer: string; certFile: string };
}

/** Starts docker-registry on a free 127.0.0.1 port; stopped after the test. */
export async function startRegistry(t: After, auth: RegistryAuth = {}): Promise<Registry> {
  const dir = tempDir(t, 'registry');
  const port = await freePort();
  const authYaml = auth.htpasswd
    ? `auth:\n  htpasswd:\n    realm: test\n    path: ${auth.htpasswd}\n`
    : auth.token
      ? `auth:\n  token:\n    realm: ${auth.token.realm}\n    service: ${auth.token.service}\n    issuer: ${auth.token.issuer}\n    rootcertbundle: ${auth.token.certFile}\n`
      : '';
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n` +
      (auth.tls ? `  tls:\n    certificate: ${auth.tls.cert}\n    key: ${auth.tls.key}\n` : '') +
      authYaml +
      // Manifests may name layers by URL (non-distributable layers); 127.0.0.1 only.
      `validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1:'\n`,
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const stop = () => stopChild(child);
  t.after(stop);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        (auth.tls ? https : http).get(`${auth.tls ? 'https' : 'http'}://127.0.0.1:${port}/v2/`, { rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      if (status === 200 || status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, dir, stop };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Writes a blob into an OCI layout; returns its descriptor. */
function putBlob(layout: string, mediaType: string, data: Buffer, extra: Record<string, unknown> = {}) {
  const digest = sha(data);
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), data);
  return { mediaType, digest, size: data.length, ...extra };
}

export interface TestImage {
  manifest: { digest: string; size: number };
  configDigest: string;
}

/**
 * An OCI image in layout dir: the busybox rootfs (gzip) plus a small second layer with
 * /etc/arch-marker holding `marker`. Returns the manifest descriptor (not yet in index.json).
 */
function makeImage(layout: string, arch: string, marker: string, work: string): { mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } } {
  const base = readFileSync(busyboxTarball());
  const markerDir = join(work, `marker-${arch}`);
  mkdirSync(join(markerDir, 'etc'), { recursive: true });
  writeFileSync(join(markerDir, 'etc', 'arch-marker'), marker + '\n');
  const second = execFileSync('tar', ['-C', markerDir, '--owner=0', '--group=0', '--mtime=@0', '-cf', '-', 'etc/arch-marker']);
  const layers = [base, second].map((tar) => putBlob(layout, 'application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(tar)));
  const config = {
    architecture: arch,
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [sha(base), sha(second)] },
    history: [{ created_by: 'test' }],
  };
  const configDesc = putBlob(layout, 'application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify(config)));
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers };
  const desc = putBlob(layout, 'application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify(manifest)));
  return { ...desc, platform: { os: 'linux', architecture: arch } };
}

/** This machine's architecture as images name it. */
export const HOST_ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
export const OTHER_ARCH = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';

/**
 * An OCI layout with tag 'single' (one manifest for this machine) and tag 'multi' (an index
 * for this machine and OTHER_ARCH, each with its own /etc/arch-marker).
 */
export function makeLayout(dir: string): string {
  const layout = join(dir, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const host = makeImage(layout, HOST_ARCH, HOST_ARCH, dir);
  const other = makeImage(layout, OTHER_ARCH, OTHER_ARCH, dir);
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [other, host] };
  const indexDesc = putBlob(layout, 'application/vnd.oci.image.index.v1+json', Buffer.from(JSON.stringify(index)));
  const { platform: _p, ...single } = host;
  const top = {
    schemaVersion: 2,
    manifests: [
      { ...single, annotations: { 'org.opencontainers.image.ref.name': 'single' } },
      { ...indexDesc, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
    ],
  };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(top));
  return layout;
}

// skopeo runs asynchronously: a token server in this process must keep answering it.
const execFileAsync = promisify(execFile);

/** skopeo copy from the layout to the registry (plain HTTP). */
export async function skopeoPush(layout: string, tag: string, dest: string, extra: string[] = []): Promise<void> {
  await execFileAsync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...extra, `oci:${layout}:${tag}`, `docker://${dest}`]);
}

/** skopeo inspect --raw of a manifest in the registry, and its digest. */
export async function skopeoManifest(ref: string, extra: string[] = []): Promise<{ raw: Buffer; digest: string }> {
  const { stdout: raw } = await execFileAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`], { encoding: 'buffer' });
  return { raw, digest: sha(raw) };
}

/** A registries.conf marking host insecure; returns its path (a fresh dir, no drop-ins). */
export function registriesConf(t: After, text: string): string {
  const dir = tempDir(t, 'regconf');
  const file = join(dir, 'registries.conf');
  writeFileSync(file, text);
  return file;
}

export function insecureConf(t: After, ...hosts: string[]): string {
  return registriesConf(t, hosts.map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`).join('\n'));
}

/** An htpasswd file with a bcrypt line for user:password (python's crypt makes the hash). */
export function htpasswd(dir: string, user: string, password: string): string {
  const hash = execFileSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))', password], { encoding: 'utf8' }).trim();
  const file = join(dir, 'htpasswd');
  writeFileSync(file, `${user}:${hash}\n`);
  return file;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Scopes requested, in order. */
  requests: { scope: string | null; user: string | null }[];
  close(): Promise<void>;
}

/**
 * A bearer-token server: checks basic credentials (user:password) when given, grants what
 * the scopes ask for (anonymous: pull of public/* only; nobody: secret/*), signs an RS256 JWT with a self-signed
 * certificate the registry trusts (x5c header).
 */
export async function startTokenServer(t: After, user: string, password: string, o: { refreshToken?: string } = {}): Promise<TokenServer> {
  const dir = tempDir(t, 'token');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=berth-test-token'], { stdio: 'ignore' });
  const key = readFileSync(keyFile, 'utf8');
  const der = Buffer.from(readFileSync(certFile, 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  const requests: TokenServer['requests'] = [];
  const b64 = (x: Buffer | string) => Buffer.from(x).toString('base64url');
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // The OAuth2 form (POST): a refresh token (o.refreshToken stands for user) instead of a password.
    let form: URLSearchParams | undefined;
    if (req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      form = new URLSearchParams(body);
    }
    // Several scopes come as repeated parameters (GET) or space-separated (POST); recorded joined by spaces.
    const scopes = form ? (form.get('scope') ?? '').split(' ').filter(Boolean) : url.searchParams.getAll('scope');
    const scope = scopes.length ? scopes.join(' ') : null;
    let who: string | null = null;
    const authz = req.headers.authorization;
    if (form) {
      if (form.get('grant_type') !== 'refresh_token' || !o.refreshToken || form.get('refresh_token') !== o.refreshToken) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"invalid_grant"}');
        requests.push({ scope, user: null });
        return;
      }
      who = user;
    } else if (authz?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (u !== user || p !== password) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        requests.push({ scope, user: u });
        return;
      }
      who = u;
    }
    requests.push({ scope, user: who });
    // Anonymous: pull of public/*; a user: anything but secret/*.
    const access = [];
    for (const one of scopes) {
      const m = /^repository:([^:]+):(.+)$/.exec(one);
      if (!m) continue;
      const actions = m[1].startsWith('secret/') ? [] : who ? m[2].split(',') : m[2].split(',').filter((a) => a === 'pull' && m[1].startsWith('public/'));
      access.push({ type: 'repository', name: m[1], actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: who ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${b64(signature)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(form ? { access_token: token, expires_in: 300 } : { token, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  t.after(close);
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, certFile, requests, close };
}

/** What a fault proxy does with one request: pass it on, or answer it another way. */
export type Fault = (req: http.IncomingMessage, upstream: () => Promise<http.IncomingMessage>, res: http.ServerResponse) => Promise<boolean>;

/**
 * An HTTP proxy in front of the registry that lets a test break responses (faults a real
 * registry does not produce on demand). fault returns true when it answered itself.
 */
export async function startFaultProxy(t: After, target: string, fault: Fault): Promise<{ host: string; log: string[] }> {
  const log: string[] = [];
  const server = http.createServer(async (req, res) => {
    log.push(`${req.method} ${req.url}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    const upstream = () =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const up = http.request(`http://${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: target } }, resolve);
        up.on('error', reject);
        req.pipe(up);
      });
    try {
      if (await fault(req, upstream, res)) return;
      const up = await upstream();
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  t.after(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return { host: `127.0.0.1:${port}`, log };
}

/** A test CA and a server certificate for 127.0.0.1 signed by it (openssl). */
export function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const p = (n: string) => join(dir, n);
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=berth test CA']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.crt'), '-days', '2', '-extfile', p('ext.cnf')]);
  return { ca: p('ca.crt'), cert: p('server.crt'), key: p('server.key') };
}

const sha256Of = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');


/** An OCI layout (tag 'big'): busybox plus randomLayers layers of incompressible data. */
export function bigImage(dir: string, layerBytes = 6 << 20, randomLayers = 3): { layout: string; files: Map<string, string> } {
  const layout = join(dir, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (mediaType: string, data: Buffer) => {
    const digest = sha256Of(data);
    writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const files = new Map<string, string>();
  const tars = [readFileSync(busyboxTarball())];
  for (let i = 0; i < randomLayers; i++) {
    const src = join(dir, `src${i}`);
    mkdirSync(src);
    const data = randomBytes(layerBytes);
    writeFileSync(join(src, `data${i}`), data);
    files.set(`data${i}`, sha256Of(data));
    tars.push(execFileSync('tar', ['-C', src, '--owner=0', '--group=0', '--mtime=@0', '-cf', '-', `data${i}`], { maxBuffer: 64 << 20 }));
  }
  const layers = tars.map((t) => put('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(t, { level: 1 })));
  const config = put(
    'application/vnd.oci.image.config.v1+json',
    Buffer.from(JSON.stringify({ architecture: HOST_ARCH, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: tars.map(sha) } })),
  );
  const manifest = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'big' } }] }));
  return { layout, files };
}

