// The OCI distribution API client: manifests, blobs, uploads; bearer-token and basic auth;
// retries of idempotent requests after 5xx and network errors; blob downloads that resume
// with HTTP Range after a broken connection.
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, dataLoss, invalidArgument, notFound, unavailable } from '../errors/index.js';
import { findCredentials, type Credentials } from './auth.js';
import type { Source } from './conf.js';
import { Transport, type HttpResponse, type TransportOptions } from './transport.js';

const ManifestTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

const ACCEPT = [ManifestTypes.ociIndex, ManifestTypes.ociManifest, ManifestTypes.dockerManifestList, ManifestTypes.dockerManifest].join(', ');
const MAX_MANIFEST = 4 << 20;
const RETRIES = 3;
/** Listings (catalog, tags) are followed for at most this many pages of their Link headers. */
const MAX_LIST_PAGES = 100;
const MAX_LIST_PAGE = 1 << 20;

export interface ClientOptions extends TransportOptions {
  /** Credentials lookup by 'host/path'; default: the containers-auth.json files. */
  credentials?: (repository: string) => Credentials | undefined;
  /** Retry delay base; doubled per attempt. */
  retryDelayMs?: number;
  userAgent?: string;
}

export interface BlobPushOptions {
  /** Repositories on the same registry that may hold the blob already (tried for a mount, in order). */
  mountFrom?: string[];
  /** Blobs larger than this go up in chunks of this many bytes; 0 or absent: one PUT. */
  chunkSize?: number;
  /** Bytes sent so far. */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

interface Challenge {
  scheme: 'bearer' | 'basic';
  realm?: string;
  service?: string;
}

export class RegistryClient {
  readonly transport: Transport;
  private readonly credentials: (repository: string) => Credentials | undefined;
  private readonly retryDelayMs: number;
  private readonly userAgent: string;
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly pendingTokens = new Map<string, Promise<string>>();

  constructor(opts: ClientOptions = {}) {
    this.transport = new Transport(opts);
    this.credentials = opts.credentials ?? ((repo) => findCredentials(repo));
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.userAgent = opts.userAgent ?? 'berth';
  }

  close(): void {
    this.transport.close();
  }

  /** A repository on a registry, e.g. from pullSources(). */
  repository(source: Source, opts: { push?: boolean } = {}): Repository {
    return new Repository(this, source, opts.push ? 'pull,push' : 'pull');
  }

  /** Checks credentials against a registry (`login`): GET /v2/ with the auth flow. */
  async checkLogin(host: string, insecure: boolean, creds: Credentials): Promise<void> {
    const source: Source = { host, path: '', insecure, mirror: false };
    const res = await this.send(source, 'GET', '/v2/', { scope: undefined, credentials: creds });
    res.body.resume();
    if (res.status !== 200) throw await this.statusError(res, 'checking login');
  }

  /**
   * One request with auth: sends, and on 401 learns the challenge, gets a token (or uses
   * basic auth) and sends once more. A second 401 is an error, never a loop.
   */
  async send(
    source: Source,
    method: string,
    path: string,
    o: { scope?: string; headers?: Record<string, string>; body?: () => Buffer | Readable; signal?: AbortSignal; credentials?: Credentials; retry?: boolean; absolute?: URL } = {},
  ): Promise<HttpResponse> {
    const creds = o.credentials ?? this.credentials(source.path ? `${source.host}/${source.path}` : source.host);
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.sendAuthorized(source, method, path, o, creds);
      } catch (e) {
        if (o.retry && attempt < RETRIES && isTransient(e) && !o.signal?.aborted) {
          await sleep(this.retryDelayMs * 2 ** attempt);
          continue;
        }
        throw e;
      }
      if (o.retry && attempt < RETRIES && (res.status >= 500 || res.status === 429)) {
        res.body.resume();
        await sleep(this.retryDelayMs * 2 ** attempt);
        continue;
      }
      return res;
    }
  }

  private async sendAuthorized(
    source: Source,
    method: string,
    path: string,
    o: { scope?: string; headers?: Record<string, string>; body?: () => Buffer | Readable; signal?: AbortSignal; absolute?: URL },
    creds: Credentials | undefined,
  ): Promise<HttpResponse> {
    const base = await this.transport.base(source.host, source.insecure);
    const url = o.absolute ?? new URL(path, base);
    const sameHost = url.host === new URL(base).host;
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...o.headers };
      const authz = sameHost ? await this.authorization(source.host, o.scope, creds, o.signal) : undefined;
      if (authz) headers.Authorization = authz;
      const res = await this.transport.request(url, { method, headers, body: o.body?.(), signal: o.signal, insecure: source.insecure });
      if (res.status !== 401 || !sameHost) return res;
      res.body.resume();
      if (round > 0) throw unauthorized(source.host, creds);
      const challenge = parseChallenge(res.headers['www-authenticate']);
      if (!challenge) throw unauthorized(source.host, creds);
      // Learn (or relearn: the token sent may have expired) and send once more.
      this.challenges.set(source.host, challenge);
      const key = tokenKey(source.host, o.scope);
      if (authz && authz === `Bearer ${this.tokens.get(key)?.token}`) this.tokens.delete(key);
      if (challenge.scheme === 'basic' && !creds) throw unauthorized(source.host, creds);
    }
  }

  /** The Authorization header for a request, fetching a token when the registry wants one. */
  private async authorization(host: string, scope: string | undefined, creds: Credentials | undefined, signal?: AbortSignal): Promise<string | undefined> {
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const challenge = this.challenges.get(host);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return creds ? basic(creds) : undefined;
    const key = tokenKey(host, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    // Parallel requests for one scope share one token request.
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(host, challenge, scope, creds, signal).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    return `Bearer ${await pending}`;
  }

  private async fetchToken(host: string, challenge: Challenge, scope: string | undefined, creds: Credentials | undefined, signal?: AbortSignal): Promise<string> {
    const key = tokenKey(host, scope);
    if (!challenge.realm) throw unavailable(`registry ${host}: bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(challenge.realm);
    } catch {
      throw unavailable(`registry ${host}: the token server's address in its WWW-Authenticate header is not a URL: "${challenge.realm}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw unavailable(`registry ${host}: the token server's address in its WWW-Authenticate header is not http(s): "${challenge.realm}"`);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    // Several scopes (e.g. push here, pull from a mount's source) are separate parameters.
    for (const one of scope?.split(' ') ?? []) if (one) url.searchParams.append('scope', one);
    const headers: Record<string, string> = { 'User-Agent': this.userAgent };
    let body: Buffer | undefined;
    if (creds?.identityToken) {
      // The token spec's OAuth2 form: the refresh token is exchanged for an access token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth' });
      if (challenge.service) form.set('service', challenge.service);
      if (scope) form.set('scope', scope);
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      url.search = '';
    } else if (creds) headers.Authorization = basic(creds);
    const res = await this.transport.request(url, { method: body ? 'POST' : 'GET', headers, body, signal });
    const text = await readText(res.body, 1 << 20, url.host);
    if (res.status === 401 || res.status === 403) throw unauthorized(host, creds);
    if (res.status !== 200) throw unavailable(`registry ${host}: token server ${url.host} answered ${res.status}`);
    let answer: { token?: string; access_token?: string; expires_in?: number };
    try {
      answer = JSON.parse(text);
    } catch {
      throw unavailable(`registry ${host}: token server ${url.host} sent no JSON`);
    }
    const token = answer.token ?? answer.access_token;
    if (!token) throw unavailable(`registry ${host}: token server ${url.host} sent no token`);
    // Renew a little before the server's expiry (default lifetime 60 s per the token spec).
    const lifetime = Math.max(10, answer.expires_in ?? 60) * 1000;
    this.tokens.set(key, { token, expires: Date.now() + lifetime - 5000 });
    return token;
  }

  /** The repositories a registry lists (GET /v2/_catalog, page after page). */
  catalog(host: string, insecure: boolean, signal?: AbortSignal): Promise<string[]> {
    const source: Source = { host, path: '', insecure, mirror: false };
    return this.list(source, '/v2/_catalog?n=1000', 'registry:catalog:*', 'repositories', 'listing its catalog', signal);
  }

  /**
   * A paged listing of names (the distribution API's catalog and tags): field of each page's
   * JSON, the next page from the Link header (its path only: the listing stays on this registry).
   */
  async list(source: Source, first: string, scope: string, field: string, what: string, signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    let path: string | undefined = first;
    for (let page = 0; path !== undefined && page < MAX_LIST_PAGES; page++) {
      const res = await this.send(source, 'GET', path, { scope, signal, retry: true });
      if (res.status !== 200) throw await this.statusError(res, what);
      const text = await readText(res.body, MAX_LIST_PAGE, source.host);
      let listed: unknown;
      try {
        listed = (JSON.parse(text) as Record<string, unknown> | null)?.[field];
      } catch {
        throw invalidArgument(`registry ${source.host}: ${what}: the answer is not JSON`);
      }
      if (listed !== undefined && listed !== null && !(Array.isArray(listed) && listed.every((n) => typeof n === 'string')))
        throw invalidArgument(`registry ${source.host}: ${what}: "${field}" is not a list of names`);
      names.push(...((listed as string[] | null | undefined) ?? []));
      path = nextPage(res.headers.link);
    }
    return names;
  }

  /** Waits before retry number attempt (0-based): the base delay, doubled per attempt. */
  backoff(attempt: number): Promise<void> {
    return sleep(this.retryDelayMs * 2 ** attempt);
  }

  /** An error for an unexpected status, with the registry's own error message if any. */
  async statusError(res: HttpResponse, what: string): Promise<BerthError> {
    let detail = '';
    try {
      const text = await readText(res.body, 64 << 10);
      const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors;
      if (errors?.length) detail = errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      // no JSON body
    }
    const msg = `registry ${res.url.host}: ${what}: ${detail || `HTTP ${res.status}`}`;
    if (res.status === 401) return new BerthError('PermissionDenied', `${msg} (unauthorized)`);
    if (res.status === 403) return new BerthError('PermissionDenied', `${msg} (denied)`);
    if (res.status === 404) return notFound(msg);
    if (res.status === 429 || res.status >= 500) return unavailable(msg);
    return invalidArgument(msg);
  }
}

export class Repository {
  constructor(
    private readonly client: RegistryClient,
    readonly source: Source,
    private readonly actions: string,
  ) {}

  get name(): string {
    return `${this.source.host}/${this.source.path}`;
  }

  private get scope(): string {
    return `repository:${this.source.path}:${this.actions}`;
  }

  private send(method: string, path: string, o: Parameters<RegistryClient['send']>[3] = {}): Promise<HttpResponse> {
    return this.client.send(this.source, method, `/v2/${this.source.path}/${path}`, { scope: this.scope, ...o });
  }

  /** The repository's tags, in the registry's order. */
  tags(signal?: AbortSignal): Promise<string[]> {
    return this.client.list(this.source, `/v2/${this.source.path}/tags/list`, this.scope, 'tags', `listing the tags of ${this.source.path}`, signal);
  }

  /** GET a manifest or index by tag or digest; verifies a digest reference. */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.send('GET', `manifests/${reference}`, { headers: { Accept: ACCEPT }, signal, retry: true });
    if (res.status !== 200) {
      if (res.status === 404) {
        res.body.resume();
        throw notFound(`${this.name}:${reference}: manifest unknown (no such image on ${this.source.host})`);
      }
      throw await this.client.statusError(res, `fetching manifest ${reference}`);
    }
    const bytes = await readBytes(res.body, MAX_MANIFEST, `manifest ${reference}`, this.source.host);
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    if (reference.startsWith('sha256:') && reference !== digest) throw dataLoss(`manifest ${reference}: digest mismatch: expected ${reference} got ${digest}`);
    const header = res.headers['docker-content-digest'];
    if (!reference.startsWith('sha256:') && typeof header === 'string' && header.startsWith('sha256:') && header !== digest)
      throw dataLoss(`manifest ${this.name}:${reference}: digest mismatch: the registry says ${header}, the content is ${digest}`);
    let mediaType = (res.headers['content-type'] ?? '').split(';')[0].trim();
    let parsed: { mediaType?: string; schemaVersion?: number } = {};
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw invalidArgument(`manifest ${this.name}:${reference} is not valid JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw invalidArgument(`manifest ${this.name}:${reference} is not a manifest or index (the registry sent ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`})`);
    if (parsed.schemaVersion === 1 || mediaType === ManifestTypes.dockerSchema1 || mediaType === ManifestTypes.dockerSchema1Signed)
      throw invalidArgument(`${this.name}:${reference} uses the Docker schema 1 manifest format, which is deprecated and not supported: push the image again with a current client`);
    if (typeof parsed.mediaType === 'string') mediaType = parsed.mediaType;
    if (!Object.values(ManifestTypes).includes(mediaType as never)) {
      // An OCI manifest may omit mediaType; tell index from manifest by their fields.
      mediaType = 'manifests' in parsed ? ManifestTypes.ociIndex : ManifestTypes.ociManifest;
    }
    return { bytes, mediaType, digest };
  }

  /** Whether the registry has a blob (HEAD). */
  async hasBlob(digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.send('HEAD', `blobs/${digest}`, { signal, retry: true });
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.client.statusError(res, `checking blob ${digest}`);
  }

  /**
   * The blob's bytes as a stream. A connection that breaks mid-way is resumed with a Range
   * request when the registry supports it; the caller still verifies the digest.
   */
  /**
   * Streams a blob. `urls` (a descriptor's, for non-distributable layers) are tried first,
   * in order, as the image spec allows; the registry is the fallback. The caller verifies
   * the digest whatever the source.
   */
  fetchBlob(digest: string, size: number | undefined, signal?: AbortSignal, urls: string[] = []): Readable {
    const self = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const u of urls) {
        const res = await self.getForeign(u, signal);
        if (!res) continue;
        let got = 0;
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          got += chunk.length;
          if (size !== undefined && got > size) throw dataLoss(`blob ${digest}: ${u} sent more than the expected ${size} bytes`);
          yield chunk;
        }
        if (size !== undefined && got < size) throw unavailable(`blob ${digest}: ${u} sent ${got} of ${size} bytes`);
        return;
      }
      let offset = 0;
      let failures = 0;
      for (;;) {
        const res = await self.getBlob(digest, offset, signal);
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            offset += chunk.length;
            if (size !== undefined && offset > size) throw dataLoss(`blob ${digest}: the registry sent more than the expected ${size} bytes`);
            yield chunk;
          }
          if (size !== undefined && offset < size) throw unavailable(`blob ${digest}: the registry sent ${offset} of ${size} bytes`);
          return;
        } catch (e) {
          res.body.destroy();
          const resumable = res.headers['accept-ranges'] === 'bytes' || res.status === 206;
          if (!(e instanceof BerthError && e.code === 'DataLoss') && isTransient(e) && resumable && ++failures <= RETRIES && !signal?.aborted) continue;
          if (e instanceof BerthError) throw e;
          throw unavailable(`blob ${digest}: download failed after ${offset} bytes: ${describeNetworkFailure(e)}`);
        }
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /** GET of a layer's own URL (http or https only); undefined when it does not answer 200. */
  private async getForeign(u: string, signal?: AbortSignal): Promise<HttpResponse | undefined> {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    try {
      const res = await this.client.send(this.source, 'GET', '', { absolute: url, signal, retry: true });
      if (res.status === 200) return res;
      res.body.resume();
    } catch (e) {
      if (signal?.aborted) throw e;
    }
    return undefined;
  }

  private async getBlob(digest: string, offset: number, signal?: AbortSignal): Promise<HttpResponse> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    let res = await this.send('GET', `blobs/${digest}`, { headers, signal, retry: true });
    // Registries may redirect blob downloads to storage elsewhere (no credentials there).
    for (let hops = 0; res.status >= 300 && res.status < 400 && res.headers.location && hops < 5; hops++) {
      res.body.resume();
      const to = new URL(res.headers.location, res.url);
      res = await this.client.send(this.source, 'GET', '', { absolute: to, headers, signal, retry: true });
    }
    if (offset > 0 ? res.status !== 206 : res.status !== 200) {
      if (offset > 0 && res.status === 200) {
        res.body.destroy();
        throw unavailable(`blob ${digest}: the download broke after ${offset} bytes and the registry cannot resume it`);
      }
      if (res.status === 404) {
        res.body.resume();
        throw notFound(`blob ${digest} not found in ${this.name}`);
      }
      throw await this.client.statusError(res, `fetching blob ${digest}`);
    }
    return res;
  }

  /**
   * Puts a blob into this repository. With mountFrom, asks the registry first to mount it
   * from those repositories of the same registry (201: done, nothing uploaded); a registry
   * that cannot answers 202 with an upload session, used for the upload. Blobs larger than
   * chunkSize go up in PATCH requests of chunkSize bytes (Content-Range), then a PUT
   * ?digest= closes the session; smaller ones in one PUT. Every response's Location is the
   * next request's URL.
   */
  async pushBlob(digest: string, size: number, open: () => Readable, o: BlobPushOptions = {}): Promise<{ mountedFrom?: string }> {
    const candidates = (o.mountFrom ?? []).filter((from) => from !== this.source.path);
    let location: URL | undefined;
    for (const [i, from] of candidates.entries()) {
      let res: { mounted: boolean; location?: URL };
      try {
        res = await this.startUpload({ mount: digest, from }, o.signal);
      } catch (e) {
        // No pull access to the source repository (the token lacks it): upload instead.
        if (e instanceof BerthError && e.code === 'PermissionDenied') break;
        throw e;
      }
      if (res.mounted) return { mountedFrom: from };
      if (i === candidates.length - 1) location = res.location;
      else await this.cancelUpload(res.location);
    }
    location ??= (await this.startUpload(undefined, o.signal)).location!;
    const chunkSize = o.chunkSize ?? 0;
    if (!(chunkSize > 0 && size > chunkSize)) {
      await this.uploadMonolithic(location, digest, size, open, o);
      return {};
    }
    try {
      await this.uploadChunked(location, digest, size, open, chunkSize, o);
    } catch (e) {
      if (!(e instanceof UploadSessionLost)) throw e;
      // The registry cannot say what it holds (docker-registry after a lost answer): start
      // this blob's upload again, once.
      try {
        await this.uploadChunked((await this.startUpload(undefined, o.signal)).location!, digest, size, open, chunkSize, o);
      } catch (again) {
        throw again instanceof UploadSessionLost ? again.error : again;
      }
    }
    return {};
  }

  /** POST blobs/uploads/ (with ?mount=&from= for a cross-repository mount). */
  private async startUpload(mount: { mount: string; from: string } | undefined, signal?: AbortSignal): Promise<{ mounted: boolean; location?: URL }> {
    const query = mount ? `?mount=${encodeURIComponent(mount.mount)}&from=${encodeURIComponent(mount.from)}` : '';
    // A mount needs pull access to the source repository as well.
    const scope = mount ? `${this.scope} repository:${mount.from}:pull` : this.scope;
    const res = await this.send('POST', `blobs/uploads/${query}`, { scope, headers: { 'Content-Length': '0' }, signal, retry: true });
    res.body.resume();
    if (mount && res.status === 201) {
      const header = res.headers['docker-content-digest'];
      if (typeof header === 'string' && header !== mount.mount) throw dataLoss(`blob ${mount.mount}: the registry mounted ${header} instead`);
      return { mounted: true };
    }
    if (res.status !== 202 || !res.headers.location) throw await this.client.statusError(res, `starting the upload of ${mount?.mount ?? 'a blob'}`);
    return { mounted: false, location: new URL(res.headers.location, res.url) };
  }

  /** Drops an upload session that will not be used (best effort). */
  private async cancelUpload(location: URL | undefined): Promise<void> {
    if (!location) return;
    try {
      const res = await this.client.send(this.source, 'DELETE', '', { absolute: location, scope: this.scope });
      res.body.resume();
    } catch {
      // The registry expires abandoned sessions by itself.
    }
  }

  private async uploadMonolithic(location: URL, digest: string, size: number, open: () => Readable, o: BlobPushOptions): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const body = () => {
      const stream = open();
      const onBytes = o.onBytes;
      if (!onBytes) return stream;
      let sent = 0;
      const counted = new Transform({
        transform(c: Buffer, _enc, done) {
          onBytes((sent += c.length));
          done(null, c);
        },
      });
      stream.on('error', (e) => counted.destroy(e));
      return stream.pipe(counted);
    };
    const res = await this.client.send(this.source, 'PUT', '', {
      absolute: url,
      scope: this.scope,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body,
      signal: o.signal,
    });
    if (res.status !== 201) throw await this.client.statusError(res, `uploading blob ${digest}`);
    res.body.resume();
  }

  /**
   * PATCHes one chunk; returns the next Location. After a broken connection or a 5xx the
   * upload's status (GET, 'Range: 0-<last byte held>') tells whether the chunk landed or
   * must be sent again.
   */
  private async sendChunk(location: URL, digest: string, chunk: Buffer, offset: number, signal?: AbortSignal): Promise<URL> {
    const end = offset + chunk.length - 1;
    const what = `uploading blob ${digest} (bytes ${offset}-${end})`;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse | undefined;
      let failure: unknown;
      try {
        res = await this.client.send(this.source, 'PATCH', '', {
          absolute: location,
          scope: this.scope,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}`, 'Content-Length': String(chunk.length) },
          body: () => chunk,
          signal,
        });
      } catch (e) {
        failure = e;
      }
      if (res?.status === 202) {
        res.body.resume();
        // The registry says how much it holds: 'Range: 0-<last byte>'.
        const range = res.headers.range;
        if (typeof range === 'string' && range !== `0-${end}`) throw unavailable(`registry ${this.source.host}: ${what}: it holds bytes ${range}, expected 0-${end}`);
        return this.nextLocation(res, what);
      }
      const transient = res ? res.status >= 500 || res.status === 429 : isTransient(failure) && !signal?.aborted;
      if (!transient || attempt >= RETRIES) {
        if (res) throw await this.client.statusError(res, what);
        if (failure instanceof BerthError) throw failure;
        throw unavailable(`registry ${this.source.host}: ${what}: ${(failure as Error).message}`);
      }
      res?.body.resume();
      await this.client.backoff(attempt);
      const status = await this.client.send(this.source, 'GET', '', { absolute: location, scope: this.scope, signal, retry: true });
      status.body.resume();
      if (status.status === 400 || status.status === 404) throw new UploadSessionLost(await this.client.statusError(status, `${what}: checking the upload after a failure`));
      if (status.status !== 204) throw await this.client.statusError(status, `${what}: checking the upload after a failure`);
      const held = /^0-(\d+)$/.exec(String(status.headers.range ?? ''));
      const heldEnd = held ? Number(held[1]) : -1;
      location = this.nextLocation(status, what);
      if (heldEnd === end) return location;
      if (heldEnd !== offset - 1) throw unavailable(`registry ${this.source.host}: ${what}: after a failure it holds bytes 0-${heldEnd}`);
    }
  }

  private nextLocation(res: HttpResponse, what: string): URL {
    if (!res.headers.location) throw unavailable(`registry ${this.source.host}: ${what}: the answer has no Location`);
    return new URL(res.headers.location, res.url);
  }

  private async uploadChunked(location: URL, digest: string, size: number, open: () => Readable, chunkSize: number, o: BlobPushOptions): Promise<void> {
    let offset = 0;
    for await (const chunk of chunksOf(open(), chunkSize)) {
      location = await this.sendChunk(location, digest, chunk, offset, o.signal);
      offset += chunk.length;
      o.onBytes?.(offset);
    }
    if (offset !== size) throw dataLoss(`blob ${digest}: read ${offset} bytes from the store, expected ${size}`);
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.client.send(this.source, 'PUT', '', { absolute: url, scope: this.scope, headers: { 'Content-Length': '0' }, signal: o.signal });
    if (res.status !== 201) throw await this.client.statusError(res, `finishing the upload of blob ${digest}`);
    res.body.resume();
  }

  /** PUTs a manifest under a tag or digest; returns the digest the registry reports. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<string> {
    const res = await this.send('PUT', `manifests/${reference}`, { headers: { 'Content-Type': mediaType }, body: () => bytes, signal });
    if (res.status !== 201 && res.status !== 200) throw await this.client.statusError(res, `storing manifest ${reference}`);
    res.body.resume();
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && header !== digest) throw dataLoss(`manifest ${reference}: the registry stored ${header}, expected ${digest}`);
    return digest;
  }
}

/** An upload session the registry no longer knows how to continue. */
class UploadSessionLost extends Error {
  constructor(readonly error: BerthError) {
    super(error.message);
  }
}

function tokenKey(host: string, scope: string | undefined): string {
  return `${host} ${scope ?? ''}`;
}

function basic(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

function unauthorized(host: string, creds: Credentials | undefined): BerthError {
  return new BerthError(
    'PermissionDenied',
    creds ? `registry ${host}: unauthorized: incorrect username or password` : `registry ${host}: unauthorized: authentication required (run berth login ${host})`,
  );
}

/** WWW-Authenticate: Bearer realm="…",service="…",scope="…" or Basic realm="…". */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(value);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme, realm: params.realm, service: params.service };
}

function isTransient(e: unknown): boolean {
  if ((e as Error)?.name === 'AbortError') return false;
  if (e instanceof BerthError) return e.code === 'Unavailable';
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ECONNREFUSED' || (e as Error)?.message === 'aborted';
}

/** Node's words for a response that broke off ('aborted', ECONNRESET …) as a reader would put them. */
function describeNetworkFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.message === 'aborted' || err?.code === 'ECONNRESET' || err?.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'the connection closed before the response was complete';
  if (err?.code === 'ETIMEDOUT') return 'the connection timed out';
  return err?.message ?? String(e);
}

async function readBytes(body: Readable, max: number, what: string, host?: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > max) {
        body.destroy();
        throw invalidArgument(`${what} is larger than ${max} bytes`);
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof BerthError || (e as Error)?.name === 'AbortError') throw e;
    throw unavailable(`${host ? `registry ${host}: ` : ''}reading ${what}: ${describeNetworkFailure(e)} (${n} bytes received)`);
  }
  return Buffer.concat(chunks);
}

/** The stream's bytes regrouped into buffers of size bytes (the last one shorter). */
async function* chunksOf(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    let data = c;
    while (held + data.length >= size) {
      const take = size - held;
      parts.push(data.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      held = 0;
      data = data.subarray(take);
    }
    if (data.length) {
      parts.push(data);
      held += data.length;
    }
  }
  if (held) yield Buffer.concat(parts);
}

/** The path and query of a Link header's rel="next" target (RFC 8288), if any. */
function nextPage(link: string | string[] | undefined): string | undefined {
  for (const one of [link ?? []].flat().join(',').split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(one);
    if (!m || !/\brel="?next"?/.test(m[2])) continue;
    try {
      const url = new URL(m[1], 'http://registry.invalid');
      return url.pathname + url.search;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function readText(body: Readable, max: number, host?: string): Promise<string> {
  return (await readBytes(body, max, 'the response', host)).toString('utf8');
}
