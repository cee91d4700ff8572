// Credentials in containers-auth.json(5) files (the format docker's config.json shares):
//   { "auths": { "registry.example.com[/ns/repo]": { "auth": base64("user:password") } } }
// Read from $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json (root without
// XDG_RUNTIME_DIR: /run/containers/0/auth.json), $XDG_CONFIG_HOME/containers/auth.json and
// ~/.docker/config.json, first match wins; the most specific key (longest repository
// prefix) wins within a file. Written to $REGISTRY_AUTH_FILE or the runtime file.
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { invalidArgument, fromSystemError } from '../errors/index.js';
import { writeFileAtomicSync } from '../sys/index.js';
import { canonicalRegistry } from './endpoint.js';

export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token for the registry's token server (docker's identitytoken). */
  identityToken?: string;
  /** A bearer token sent to the registry as it is. */
  registryToken?: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  [other: string]: unknown;
}

/** The default file `login` writes to and the first one read. */
export function defaultAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return join('/run/containers', String(process.getuid?.() ?? 0), 'auth.json');
}

/** Files read for credentials, in order. */
function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const home = env.HOME ?? homedir();
  const configHome = env.XDG_CONFIG_HOME ?? join(home, '.config');
  return [defaultAuthFile(env), join(configHome, 'containers', 'auth.json'), join(home, '.docker', 'config.json')];
}

function readAuthFile(file: string): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(e, `reading ${file}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`${file}: not a valid auth file (${(e as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalidArgument(`${file}: not a valid auth file (not an object)`);
  return doc as AuthFile;
}

function decode(entry: { auth?: string; username?: string; password?: string }, where: string): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw invalidArgument(`${where}: the "auth" value is not base64 of "user:password"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Credentials for repository ('host/path', or just 'host'): the most specific entry of the
 * first file that has one.
 */
export function findCredentials(repository: string, files: string[] = authFiles()): Credentials | undefined {
  for (const file of files) {
    const doc = readAuthFile(file);
    if (!doc?.auths) continue;
    let best: { len: number; creds: Credentials } | undefined;
    for (const [key, entry] of Object.entries(doc.auths)) {
      const k = canonicalRegistry(key);
      if (repository !== k && !repository.startsWith(k + '/')) continue;
      const creds = decode(entry ?? {}, file);
      if (creds && (!best || k.length > best.len)) best = { len: k.length, creds };
    }
    if (best) return best.creds;
  }
  return undefined;
}

function writeAuthFile(file: string, doc: AuthFile): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(file, JSON.stringify(doc, null, '\t') + '\n', { mode: 0o600 });
  } catch (e) {
    throw fromSystemError(e, `writing ${file}`);
  }
}

/** Stores credentials for key ('host' or 'host/ns/repo'), keeping the file's other content. */
export function saveCredentials(key: string, creds: Credentials, file = defaultAuthFile()): void {
  const doc = readAuthFile(file) ?? {};
  doc.auths = { ...(doc.auths ?? {}), [key]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  writeAuthFile(file, doc);
}

/** Removes the credentials for key; returns false when there were none. */
export function removeCredentials(key: string, file = defaultAuthFile()): boolean {
  const doc = readAuthFile(file);
  if (!doc?.auths) return false;
  const match = Object.keys(doc.auths).filter((k) => canonicalRegistry(k) === canonicalRegistry(key));
  if (match.length === 0) return false;
  for (const k of match) delete doc.auths[k];
  writeAuthFile(file, doc);
  return true;
}

/** Removes every credential in file. */
export function removeAllCredentials(file = defaultAuthFile()): void {
  const doc = readAuthFile(file);
  if (!doc) return;
  doc.auths = {};
  writeAuthFile(file, doc);
}
