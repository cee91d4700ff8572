// registries.conf as containers-registries.conf(5) defines it (version 2, plus the old
// v1 [registries.search/insecure/block] tables): which registries are blocked or insecure,
// where a repository really lives (location), which mirrors to try first, and where
// unqualified names are searched. Drop-ins in registries.conf.d/*.conf are applied in
// name order: a [[registry]] with a known prefix replaces the earlier one, other keys
// overwrite.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'smol-toml';
import { invalidArgument } from '../errors/index.js';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface Mirror {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  /** Repository prefix it applies to: 'host[:port][/path]' or '*.domain'. */
  prefix: string;
  /** Where the prefix is really served from; '' for a wildcard prefix (no rewrite). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: Mirror[];
}

export interface RegistriesConf {
  unqualifiedSearch: string[];
  registries: RegistryEntry[];
  /** Files read, in order (for error messages). */
  files: string[];
}

/** One place to fetch a repository from: a mirror or the origin. */
export interface Source {
  /** 'host[:port]' as the API is addressed. */
  host: string;
  /** Repository path on that host. */
  path: string;
  insecure: boolean;
  mirror: boolean;
}

const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';

/**
 * Loads registries.conf: path (or $CONTAINERS_REGISTRIES_CONF, or the system file) and the
 * registries.conf.d directory beside it. A missing file means an empty configuration.
 */
export async function loadRegistriesConf(path?: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistriesConf> {
  return loadRegistriesConfSync(path, env);
}

/** loadRegistriesConf for callers that cannot wait (an image lookup reading the search registries). */
export function loadRegistriesConfSync(path?: string, env: NodeJS.ProcessEnv = process.env): RegistriesConf {
  const main = path ?? env.CONTAINERS_REGISTRIES_CONF ?? DEFAULT_REGISTRIES_CONF;
  const conf: RegistriesConf = { unqualifiedSearch: [], registries: [], files: [] };
  const apply = (file: string) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw invalidArgument(`${file}: ${(e as Error).message}`);
    }
    let doc: Record<string, unknown>;
    try {
      doc = parse(text) as Record<string, unknown>;
    } catch (e) {
      throw invalidArgument(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
    mergeDocument(conf, doc, file);
    conf.files.push(file);
  };
  apply(main);
  const dropIns = join(dirname(main), 'registries.conf.d');
  if (existsSync(dropIns)) {
    for (const name of readdirSync(dropIns).filter((n) => n.endsWith('.conf')).sort()) apply(join(dropIns, name));
  }
  return conf;
}

/** Parses one registries.conf text (tests and callers with their own file handling). */
export async function parseRegistriesConf(text: string, file = 'registries.conf'): Promise<RegistriesConf> {
  const conf: RegistriesConf = { unqualifiedSearch: [], registries: [], files: [file] };
  try {
    mergeDocument(conf, parse(text) as Record<string, unknown>, file);
  } catch (e) {
    if ((e as { code?: string }).code === 'InvalidArgument') throw e;
    throw invalidArgument(`${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  return conf;
}

function mergeDocument(conf: RegistriesConf, doc: Record<string, unknown>, file: string): void {
  const bad = (msg: string) => invalidArgument(`${file}: ${msg}`);
  const strings = (v: unknown, key: string): string[] => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`${key} must be an array of strings`);
    return v as string[];
  };
  const bool = (v: unknown, key: string): boolean => {
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw bad(`${key} must be true or false`);
    return v;
  };

  if (doc['unqualified-search-registries'] !== undefined) conf.unqualifiedSearch = strings(doc['unqualified-search-registries'], 'unqualified-search-registries');

  const v1 = doc.registries as Record<string, { registries?: unknown }> | undefined;
  if (v1 && !Array.isArray(v1) && typeof v1 === 'object') {
    // Version 1: lists of hosts per category.
    if (v1.search?.registries !== undefined) conf.unqualifiedSearch = strings(v1.search.registries, 'registries.search.registries');
    for (const [kind, key] of [['insecure', 'insecure'], ['block', 'blocked']] as const) {
      const hosts = v1[kind]?.registries;
      if (hosts === undefined) continue;
      for (const host of strings(hosts, `registries.${kind}.registries`)) {
        const e = upsert(conf, host);
        e[key] = true;
      }
    }
  }

  if (doc.registry === undefined) return;
  if (!Array.isArray(doc.registry)) throw bad('[[registry]] must be an array of tables');
  for (const raw of doc.registry as Record<string, unknown>[]) {
    const location = raw.location;
    if (location !== undefined && typeof location !== 'string') throw bad('registry.location must be a string');
    const prefix = raw.prefix ?? location;
    if (typeof prefix !== 'string' || prefix === '') throw bad('a [[registry]] needs a prefix or a location');
    if (prefix.startsWith('*.') ? location !== undefined && location !== '' : false)
      throw bad(`registry "${prefix}": a wildcard prefix cannot have a location`);
    const mirrorsRaw = raw.mirror ?? [];
    if (!Array.isArray(mirrorsRaw)) throw bad(`registry "${prefix}": mirror must be an array of tables`);
    const mirrors: Mirror[] = (mirrorsRaw as Record<string, unknown>[]).map((m) => {
      if (typeof m.location !== 'string' || m.location === '') throw bad(`registry "${prefix}": every mirror needs a location`);
      const pull = m['pull-from-mirror'] ?? 'all';
      if (pull !== 'all' && pull !== 'digest-only' && pull !== 'tag-only') throw bad(`registry "${prefix}": pull-from-mirror must be all, digest-only or tag-only`);
      return { location: stripScheme(m.location), insecure: bool(m.insecure, 'mirror.insecure'), pullFromMirror: pull };
    });
    const entry: RegistryEntry = {
      prefix: stripScheme(prefix),
      location: prefix.startsWith('*.') ? '' : stripScheme((location as string | undefined) || prefix),
      insecure: bool(raw.insecure, 'registry.insecure'),
      blocked: bool(raw.blocked, 'registry.blocked'),
      mirrors,
    };
    const i = conf.registries.findIndex((r) => r.prefix === entry.prefix);
    if (i >= 0) conf.registries[i] = entry;
    else conf.registries.push(entry);
  }
}

function upsert(conf: RegistriesConf, host: string): RegistryEntry {
  const prefix = stripScheme(host);
  let e = conf.registries.find((r) => r.prefix === prefix);
  if (!e) {
    e = { prefix, location: prefix, insecure: false, blocked: false, mirrors: [] };
    conf.registries.push(e);
  }
  return e;
}

function stripScheme(s: string): string {
  return s.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

/** Does prefix cover the repository 'host/path'? Wildcards match subdomains of the host. */
function prefixMatches(prefix: string, repository: string): boolean {
  if (prefix.startsWith('*.')) {
    const host = repository.split('/')[0];
    return host.endsWith(prefix.slice(1));
  }
  return repository === prefix || repository.startsWith(prefix + '/');
}

/** The entry for a repository: the longest matching prefix (wildcards count as shortest). */
function findRegistry(conf: RegistriesConf, repository: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  const weight = (e: RegistryEntry) => (e.prefix.startsWith('*.') ? e.prefix.length - 1e6 : e.prefix.length);
  for (const e of conf.registries) if (prefixMatches(e.prefix, repository) && (!best || weight(e) > weight(best))) best = e;
  return best;
}

/**
 * Where to pull repository ('host/path') from, in order: the mirrors that apply (by tag or
 * by digest), then the origin. A blocked registry is refused.
 */
export function pullSources(conf: RegistriesConf, repository: string, byDigest: boolean): Source[] {
  const entry = findRegistry(conf, repository);
  if (!entry) return [toSource(repository, false, false)];
  if (entry.blocked) throw invalidArgument(`registry ${entry.prefix} is blocked in registries.conf`);
  const rest = entry.prefix.startsWith('*.') ? '' : repository.slice(entry.prefix.length);
  const rewrite = (location: string) => (entry.location === '' ? repository : location + rest);
  const sources: Source[] = [];
  for (const m of entry.mirrors) {
    if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
    if (m.pullFromMirror === 'tag-only' && byDigest) continue;
    sources.push(toSource(rewrite(m.location), m.insecure, true));
  }
  sources.push(toSource(rewrite(entry.location), entry.insecure, false));
  return sources;
}

/** Where to push repository: the origin only (mirrors are read-only). */
export function pushSource(conf: RegistriesConf, repository: string): Source {
  const entry = findRegistry(conf, repository);
  if (!entry) return toSource(repository, false, false);
  if (entry.blocked) throw invalidArgument(`registry ${entry.prefix} is blocked in registries.conf`);
  const rest = entry.prefix.startsWith('*.') ? '' : repository.slice(entry.prefix.length);
  return toSource(entry.location === '' ? repository : entry.location + rest, entry.insecure, false);
}

/** Is host insecure (plain HTTP / unverified TLS allowed) according to the configuration? */
export function isInsecureHost(conf: RegistriesConf, host: string): boolean {
  return findRegistry(conf, host)?.insecure ?? false;
}

function toSource(repository: string, insecure: boolean, mirror: boolean): Source {
  const slash = repository.indexOf('/');
  const host = slash < 0 ? repository : repository.slice(0, slash);
  const path = slash < 0 ? '' : repository.slice(slash + 1);
  if (path === '') throw invalidArgument(`registries.conf: location "${repository}" names no repository`);
  return { host, path, insecure, mirror };
}
