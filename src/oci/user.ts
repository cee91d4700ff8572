// Resolves a docker-style user spec ('name', 'uid', 'name:group', 'uid:gid') against the
// image's /etc/passwd and /etc/group, with the same rules as docker/runc: a numeric id
// need not exist in the files, a name must; supplementary groups come from /etc/group only
// when no group was given explicitly.
import { readFile } from 'node:fs/promises';
import { invalidArgument } from '../errors/index.js';
import { resolveInRootfs } from './rootfs-path.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const MAX_ID = 2 ** 31 - 1;

export async function resolveUser(rootfs: string, user: string | undefined): Promise<ResolvedUser> {
  const spec = (user ?? '').trim();
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? '' : spec.slice(colon + 1);
  if (colon >= 0 && groupPart === '') throw invalidArgument(`invalid user "${spec}": empty group after ":"`);

  const passwd = await readEntries(rootfs, '/etc/passwd', parsePasswdLine);
  const userName = userPart === '' ? '0' : userPart;
  const userId = parseId(userName);
  const entry = passwd.find((p) => (userId === undefined ? p.name === userName : p.uid === userId));
  if (!entry && userId === undefined) {
    throw invalidArgument(`unable to find user ${userName}: no matching entries in passwd file`);
  }
  const result: ResolvedUser = {
    uid: entry?.uid ?? userId!,
    gid: entry?.gid ?? 0,
    additionalGids: [],
    home: entry?.home || '/',
  };

  // Group lookups only when needed: a named user (supplementary groups) or an explicit group.
  if (groupPart === '' && !entry) return result;
  const groupId = groupPart === '' ? undefined : parseId(groupPart);
  if (groupPart !== '' && groupId !== undefined) {
    result.gid = groupId;
    return result;
  }
  const groups = await readEntries(rootfs, '/etc/group', parseGroupLine);
  if (groupPart !== '') {
    const group = groups.find((g) => g.name === groupPart);
    if (!group) throw invalidArgument(`unable to find group ${groupPart}: no matching entries in group file`);
    result.gid = group.gid;
    return result;
  }
  const extra = groups.filter((g) => g.members.includes(entry!.name)).map((g) => g.gid);
  result.additionalGids = [...new Set(extra)].filter((g) => g !== result.gid);
  return result;
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw invalidArgument(`invalid user id ${s}: must be at most ${MAX_ID}`);
  return n;
}

async function readEntries<T>(rootfs: string, path: string, parse: (line: string) => T | undefined): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(await resolveInRootfs(rootfs, path), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return []; // a scratch image has no passwd file
    throw e;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const entry = parse(trimmed);
    if (entry) out.push(entry);
  }
  return out;
}

// name:password:uid:gid:gecos:home:shell
function parsePasswdLine(line: string): PasswdEntry | undefined {
  const f = line.split(':');
  if (f.length < 4 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
}

// name:password:gid:member,member
function parseGroupLine(line: string): GroupEntry | undefined {
  const f = line.split(':');
  if (f.length < 3 || !/^\d+$/.test(f[2]!)) return undefined;
  const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
  return { name: f[0]!, gid: Number(f[2]), members };
}

/** --group-add's groups: numbers as they are, names looked up in the rootfs' /etc/group. */
export async function resolveGroups(rootfs: string, groups: string[]): Promise<number[]> {
  const entries = groups.every((g) => parseId(g) !== undefined) ? [] : await readEntries(rootfs, '/etc/group', parseGroupLine);
  return groups.map((g) => {
    const id = parseId(g);
    if (id !== undefined) return id;
    const entry = entries.find((e) => e.name === g);
    if (!entry) throw invalidArgument(`unable to find group ${g}: no matching entries in group file`);
    return entry.gid;
  });
}
