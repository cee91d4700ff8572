// -v/--volume and --mount, as docker and podman users write them.
import { isAbsolute, resolve } from 'node:path';
import { invalidArgument } from '../errors/index.js';
import type { BindMount, ContainerMount, MountFlag, Propagation, VolumeMount } from '../container/index.js';
import { isValidName } from '../config/index.js';
import { parseBytes } from './options.js';

const PROPAGATIONS = new Set<string>(['shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate']);
const FLAGS = new Set<string>(['nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec']);
/** Docker Desktop's consistency hints: nothing to do on Linux. */
const IGNORED = new Set(['cached', 'delegated', 'consistent']);

type Common = Pick<BindMount, 'readOnly' | 'propagation' | 'flags' | 'relabel'>;

/**
 * -v [SRC:]DST[:OPTS]: SRC a host path (absolute, or starting with '.') or a volume name; no SRC
 * is an anonymous volume. OPTS: comma-separated ro|rw, z|Z, a propagation, nosuid|nodev|noexec
 * (and suid|dev|exec), nocopy, cached|delegated|consistent.
 */
export function parseVolume(v: string): ContainerMount {
  const bad = (why: string) => invalidArgument(`invalid volume specification "${v}": ${why}`);
  const parts = v.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw bad('expected [SOURCE:]CONTAINER-DIR[:OPTIONS]');
  if (parts.length === 1) parts.unshift('');
  const [source, destination, opts = ''] = parts as [string, string, string?];
  if (!isAbsolute(destination)) throw bad('the container path must be absolute');
  let noCopy = false;
  const common: Common = {};
  for (const o of opts.split(',').filter(Boolean)) {
    if (o === 'nocopy') noCopy = true;
    else {
      const wrong = applyOption(common, o);
      if (wrong) throw bad(wrong);
    }
  }
  if (source.startsWith('/') || source.startsWith('.')) {
    if (noCopy) throw bad('option "nocopy" is for volumes, not bind mounts');
    return { type: 'bind', source: resolve(source), destination, ...common };
  }
  if (source !== '' && !isValidName(source)) throw bad(`invalid volume name "${source}"`);
  return volume(source, destination, common, noCopy);
}

/** One -v option into m; what is wrong with it (unknown, or conflicting with an earlier one), if anything. */
function applyOption(m: Common, o: string): string | undefined {
  if (o === 'ro' || o === 'rw') {
    if (m.readOnly !== undefined) return `conflicting options "${m.readOnly ? 'ro' : 'rw'}" and "${o}"`;
    m.readOnly = o === 'ro';
  } else if (o === 'z' || o === 'Z') {
    m.relabel = o;
  } else if (PROPAGATIONS.has(o)) {
    if (m.propagation !== undefined) return `conflicting options "${m.propagation}" and "${o}"`;
    m.propagation = o as Propagation;
  } else if (FLAGS.has(o)) {
    m.flags = [...(m.flags ?? []), o as MountFlag];
  } else if (!IGNORED.has(o)) {
    return `unknown option "${o}"`;
  }
  return undefined;
}

function volume(name: string, destination: string, c: Common, noCopy: boolean): VolumeMount {
  return { type: 'volume', name, destination, ...c, ...(name === '' ? { anonymous: true } : {}), ...(noCopy ? { noCopy } : {}) };
}

/**
 * --mount type=bind|volume|tmpfs,source=|src=,target=|dst=|destination=,readonly|ro,
 * bind-propagation=, volume-nocopy, tmpfs-size=, tmpfs-mode=, consistency= (docker's syntax).
 */
export function parseMount(v: string): ContainerMount {
  const bad = (why: string) => invalidArgument(`invalid --mount "${v}": ${why}`);
  const kv = new Map<string, string | undefined>();
  const volumeOpts: string[] = [];
  for (const field of v.split(',')) {
    if (field === '') continue;
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    if (key === 'volume-opt') {
      const opt = field.slice(i + 1);
      if (i < 0 || !opt.includes('=')) throw bad('volume-opt takes KEY=VALUE');
      volumeOpts.push(opt);
    }
    kv.set(key === 'src' ? 'source' : key === 'dst' || key === 'destination' ? 'target' : key === 'ro' ? 'readonly' : key, i < 0 ? undefined : field.slice(i + 1));
  }
  const type = kv.get('type') ?? 'volume';
  const target = kv.get('target');
  const source = kv.get('source');
  if (!target) throw bad('target= is required');
  if (!isAbsolute(target)) throw bad('the target must be an absolute path');
  const allowed = new Set(['type', 'source', 'target', 'readonly', 'consistency', ...({ bind: ['bind-propagation'], volume: ['volume-nocopy', 'volume-opt'], tmpfs: ['tmpfs-size', 'tmpfs-mode'] } as Record<string, string[]>)[type] ?? []]);
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw bad(`unknown type "${type}" (bind, volume or tmpfs)`);
  for (const k of kv.keys()) if (!allowed.has(k)) throw bad(`unknown option "${k}" for type=${type}`);
  const bool = (k: string) => {
    if (!kv.has(k)) return undefined;
    const val = kv.get(k);
    if (val === undefined || val === '' || val === 'true' || val === '1') return true;
    if (val === 'false' || val === '0') return false;
    throw bad(`invalid value "${val}" for ${k}: true or false`);
  };
  const readOnly = bool('readonly') || undefined;
  if (type === 'tmpfs') {
    if (source) throw bad('type=tmpfs takes no source');
    const options: string[] = [];
    const size = kv.get('tmpfs-size');
    if (size !== undefined) options.push(`size=${parseBytes(size, 'tmpfs-size')}`);
    const mode = kv.get('tmpfs-mode');
    if (mode !== undefined) {
      if (!/^[0-7]{1,4}$/.test(mode)) throw bad(`invalid tmpfs-mode "${mode}": an octal mode such as 1777`);
      options.push(`mode=${mode}`);
    }
    if (readOnly) options.push('ro');
    return { type: 'tmpfs', destination: target, options };
  }
  if (type === 'bind') {
    if (!source) throw bad('type=bind needs source=');
    if (!isAbsolute(source)) throw bad('the source of a bind mount must be an absolute path');
    const propagation = kv.get('bind-propagation');
    if (propagation !== undefined && !PROPAGATIONS.has(propagation)) throw bad(`invalid bind-propagation "${propagation}"`);
    return { type: 'bind', source, destination: target, readOnly, ...(propagation ? { propagation: propagation as Propagation } : {}) };
  }
  if (source && !isValidName(source)) throw bad(`invalid volume name "${source}"`);
  const m = volume(source ?? '', target, { readOnly }, !!bool('volume-nocopy'));
  // volume-opt=KEY=VALUE, repeated: options of a volume made on first use.
  if (volumeOpts.length > 0) m.options = Object.fromEntries(volumeOpts.map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)]));
  return m;
}

/** inspect's Mounts, shaped as podman prints them. */
export function mountViews(mounts: ContainerMount[], volumePath: (name: string) => string) {
  return mounts.flatMap((m) => {
    if (m.type === 'tmpfs') return [];
    const volume = m.type === 'volume';
    return [
      {
        Type: m.type,
        ...(volume ? { Name: m.name } : {}),
        Source: volume ? volumePath(m.name) : m.source,
        Destination: m.destination,
        Driver: volume ? 'local' : '',
        Mode: m.relabel ?? '',
        Options: ['rbind', ...(m.flags ?? [])],
        RW: !m.readOnly,
        Propagation: m.propagation ?? 'rprivate',
      },
    ];
  });
}
