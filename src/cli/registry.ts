// pull, push, login, logout.
import { writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Command } from './command.js';
import { humanSize } from './format.js';
import { authFileFlag, registryOptions, tlsFlags } from './registry-flags.js';
import { platformFlags, platformOf, waitingLine } from './pull-policy.js';
import { invalidArgument } from '../errors/index.js';
import type { ImageStore, PullProgress, PushProgress, RegistryAccess } from '../image/index.js';
import type { FlagValues } from './args.js';
// The reference helpers directly, and the registry client on demand: loading the image
// store and the TLS client would slow every command's start-up.
import { normalizeReference, repositoryOf } from '../image/reference.js';
import { writeOut } from './stdout.js';
const registryLib = () => import('../registry/index.js');

/**
 * Progress for one command. Not on a TTY: plain lines, one per finished blob. On a TTY: a
 * bar per blob with bytes and speed, redrawn in place (at most every REDRAW_MS while
 * bytes flow; at once when a blob changes state), each row cut to the terminal's width so
 * that no row wraps and the cursor moves stay exact.
 */
class ProgressPrinter {
  private static readonly REDRAW_MS = 100;
  private readonly rows = new Map<string, { text: string; start: number }>();
  private drawn = 0;
  private lastDraw = 0;
  private pending = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly tty = stream.isTTY === true) {}

  line(text: string): void {
    this.clear();
    this.stream.write(text + '\n');
    this.redraw();
  }

  blob(verb: string, digest: string, size: number, bytes: number, state: 'active' | 'done' | 'exists' | 'mounted', note = ''): void {
    const short = digest.slice(7, 19);
    if (!this.tty) {
      if (state === 'exists') this.line(`${verb} ${short} skipped: already exists`);
      else if (state === 'mounted') this.line(`${verb} ${short} skipped: mounted from ${note}`);
      else if (state === 'done') this.line(`${verb} ${short} done`);
      return;
    }
    const now = Date.now();
    const row = this.rows.get(digest) ?? { text: '', start: now };
    const changed = !this.rows.has(digest) || state !== 'active';
    row.text =
      state === 'exists'
        ? `${verb} ${short} skipped: already exists`
        : state === 'mounted'
          ? `${verb} ${short} skipped: mounted from ${note}`
          : state === 'done'
            ? `${verb} ${short} done  ${humanSize(size)}`
            : `${verb} ${short} ${bar(bytes, size)} ${humanSize(bytes)}/${humanSize(size)}  ${humanSize(bytes / Math.max(0.001, (now - row.start) / 1000))}/s`;
    this.rows.set(digest, row);
    if (!changed && now - this.lastDraw < ProgressPrinter.REDRAW_MS) {
      this.pending = true;
      return;
    }
    this.clear();
    this.redraw();
  }

  private clear(): void {
    if (!this.tty || this.drawn === 0) return;
    this.stream.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private redraw(): void {
    if (!this.tty) return;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    let out = '';
    for (const r of this.rows.values()) out += r.text.slice(0, width) + '\n';
    this.stream.write(out);
    this.drawn = this.rows.size;
    this.lastDraw = Date.now();
    this.pending = false;
  }

  /** Draws the final state of the bars, keeps them on screen and stops redrawing them. */
  finish(): void {
    if (this.pending) {
      this.clear();
      this.redraw();
    }
    this.rows.clear();
    this.drawn = 0;
  }
}

/** '[=====>      ]' for bytes of size. */
function bar(bytes: number, size: number, width = 25): string {
  const filled = size > 0 ? Math.min(width, Math.floor((bytes / size) * width)) : width;
  const body = filled === 0 ? '' : filled === width ? '='.repeat(width) : '='.repeat(filled - 1) + '>';
  return `[${body.padEnd(width)}]`;
}

const pullCommand: Command = {
  name: 'pull',
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST] [NAME...]',
  summary: 'Pull images from a registry',
  flags: [
    ...platformFlags,
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Print only the image ID' },
    { name: 'concurrency', type: 'int', value: 'N', default: 3, desc: 'Layers downloaded at once' },
    authFileFlag,
    ...tlsFlags,
  ],
  minArgs: 1,
  async run(ctx, f, refs) {
    const concurrency = f.concurrency as number;
    if (concurrency < 1) throw invalidArgument('--concurrency must be at least 1');
    const images = await ctx.images();
    const registry = await ctx.registry(registryOptions(f));
    // Ctrl-C or a TERM stops the pull, which removes what it made; then the signal ends
    // the process as it would have (a second one ends it at once).
    const stop = new AbortController();
    let caught: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      caught = signal;
      stop.abort();
    };
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    try {
      // One after the other, as podman pulls several: each reports its own progress.
      for (const ref of refs) await pullOne(images, registry, ref, f, concurrency, stop.signal);
    } catch (e) {
      if (!caught) throw e;
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      registry.close();
    }
    if (caught) {
      process.exitCode = 128 + osConstants.signals[caught];
      process.kill(process.pid, caught);
    }
  },
};

/** One pull with its progress, as podman prints it. */
async function pullOne(images: ImageStore, registry: RegistryAccess, ref: string, f: FlagValues, concurrency: number, signal: AbortSignal): Promise<void> {
  const out = f.quiet ? undefined : new ProgressPrinter();
  let announced = false;
  const onProgress = (e: PullProgress) => {
    // Said even with -q: the wait may be long, and it ends with an error if that download stalls.
    if (e.type === 'waiting') return out ? out.line(waitingLine(e)) : void process.stderr.write(`${waitingLine(e)}\n`);
    if (!out) return;
    if (e.type === 'trying') out.line(`Trying to pull ${e.reference}...`);
    else if (e.type === 'manifest' && !announced) {
      announced = true;
      out.line('Getting image source signatures');
    } else if (e.type === 'blob' && e.kind === 'config') out.line(`Copying config ${e.digest.slice(7, 19)} ${e.status === 'exists' ? 'skipped: already exists' : 'done'}`);
    else if (e.type === 'blob') out.blob('Copying blob', e.digest, e.size, e.bytes, e.status === 'downloading' ? 'active' : e.status);
  };
  const { image } = await images.pull(images.pullTarget(ref), registry, { platform: platformOf(f), concurrency, onProgress, signal });
  out?.finish();
  out?.line('Writing manifest to image destination');
  writeOut(`${image.id}\n`);
}

const pushCommand: Command = {
  name: 'push',
  usage: 'push [OPTIONS] IMAGE [DESTINATION]',
  summary: 'Push an image to a registry',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Print nothing but errors' },
    { name: 'digestfile', type: 'string', value: 'FILE', desc: 'Write the digest of the pushed manifest to FILE' },
    { name: 'chunk-size', type: 'int', value: 'BYTES', desc: 'Upload blobs larger than BYTES in chunks of BYTES (default 64 MiB; 0: each blob in one request)' },
    authFileFlag,
    ...tlsFlags,
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, f, [ref, dest]) {
    const chunkSize = f['chunk-size'] as number | undefined;
    if (chunkSize !== undefined && chunkSize < 0) throw invalidArgument('--chunk-size must be 0 or more');
    const images = await ctx.images();
    const registry = await ctx.registry(registryOptions(f));
    const out = f.quiet ? undefined : new ProgressPrinter();
    out?.line('Getting image source signatures');
    const onProgress = (e: PushProgress) => {
      if (!out || e.type !== 'blob') return;
      if (e.status === 'mounted') out.blob('Copying blob', e.digest, e.size, e.bytes, 'mounted', e.from);
      else out.blob('Copying blob', e.digest, e.size, e.bytes, e.status === 'uploading' ? 'active' : e.status);
    };
    try {
      const { digest } = await images.push(ref, registry, dest?.replace(/^docker:\/\//, ''), { onProgress, chunkSize });
      out?.finish();
      out?.line('Writing manifest to image destination');
      if (f.digestfile) writeFileSync(f.digestfile as string, digest);
    } finally {
      registry.close();
    }
  },
};

/** 'host[:port][/repo]' from a login argument (a URL or a reference's registry part). */
async function loginKey(arg: string): Promise<string> {
  const s = (await registryLib()).canonicalRegistry(arg);
  return s.includes('/') ? repositoryOf(normalizeReference(s)) : s;
}

const loginCommand: Command = {
  name: 'login',
  usage: 'login [OPTIONS] REGISTRY',
  summary: 'Log in to a registry (credentials are checked, then stored)',
  flags: [
    { name: 'username', short: 'u', type: 'string', value: 'USER', desc: 'Username' },
    { name: 'password', short: 'p', type: 'string', value: 'PASSWORD', desc: 'Password' },
    { name: 'password-stdin', type: 'bool', desc: 'Read the password from stdin' },
    { name: 'get-login', type: 'bool', desc: 'Print the user logged in to REGISTRY' },
    authFileFlag,
    ...tlsFlags,
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [registryArg]) {
    const { defaultAuthFile, findCredentials, isInsecureHost, saveCredentials } = await registryLib();
    const key = await loginKey(registryArg);
    const host = key.split('/')[0];
    const authFile = (f.authfile as string | undefined) ?? defaultAuthFile();
    if (f['get-login']) {
      const creds = findCredentials(key, [authFile]);
      if (!creds) throw invalidArgument(`not logged in to ${key}`);
      writeOut(`${creds.username}\n`);
      return;
    }
    const username = f.username as string | undefined;
    let password = f.password as string | undefined;
    if (f['password-stdin']) {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    }
    if (!username || password === undefined) throw invalidArgument('login needs --username and --password (or --password-stdin)');
    const access = await ctx.registry(registryOptions(f));
    try {
      await access.client.checkLogin(host, isInsecureHost(access.conf, host), { username, password });
    } finally {
      access.close();
    }
    saveCredentials(key, { username, password }, authFile);
    writeOut('Login Succeeded!\n');
  },
};

const logoutCommand: Command = {
  name: 'logout',
  usage: 'logout [OPTIONS] [REGISTRY]',
  summary: 'Remove stored credentials for a registry',
  flags: [{ name: 'all', short: 'a', type: 'bool', desc: 'Remove the credentials of every registry' }, authFileFlag],
  maxArgs: 1,
  async run(_ctx, f, [registryArg]) {
    const { defaultAuthFile, removeAllCredentials, removeCredentials } = await registryLib();
    const authFile = (f.authfile as string | undefined) ?? defaultAuthFile();
    if (f.all) {
      removeAllCredentials(authFile);
      writeOut('Removed login credentials for all registries\n');
      return;
    }
    if (!registryArg) throw invalidArgument('logout needs a REGISTRY or --all');
    const key = await loginKey(registryArg);
    if (!removeCredentials(key, authFile)) throw invalidArgument(`not logged in to ${key}`);
    writeOut(`Removed login credentials for ${key}\n`);
  },
};

export const registryCommands: Command[] = [pullCommand, pushCommand, loginCommand, logoutCommand];
