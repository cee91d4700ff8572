// The host's missing system calls, behind one small module. Everything here is a thin
// synchronous wrapper over the native addon in ./native (built into build/berth_sys.node);
// errors are Node-style (err.code = 'ENOENT' …, err.syscall, err.path).
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findInstalled } from '../config/index.js';

export { writeFileAtomic, writeFileAtomicSync, tempPathFor, type AtomicWriteOptions } from './files.js';
export { findExecutable, DEFAULT_SEARCH_PATH } from './path.js';

interface Native {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  seqpacketConnect(path: string): number;
  shutdown(fd: number, how: number): void;
  netnsCreate(path: string): void;
}

let native: Native | undefined;

/** The addon is build/berth_sys.node above this module (src/, out/src/ or the bundle). */
function load(): Native {
  if (native) return native;
  const path = process.env.BERTH_SYS_ADDON ?? findInstalled(join('build', 'berth_sys.node'));
  native = createRequire(import.meta.url)(path) as Native;
  return native;
}

export const MS_BIND = 0x1000;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 0x2;
const SHUT_WR = 1;
const SHUT_RDWR = 2;

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  load().mount(source, target, fstype, flags, data);
}

/** Unmounts target; a path that is not mounted (EINVAL) or gone (ENOENT) is not an error. */
export function unmount(target: string, flags = 0): void {
  try {
    load().umount2(target, flags);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw e;
  }
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  load().mknod(path, mode, major, minor);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  load().lsetxattr(path, name, value);
}

export function lgetxattr(path: string, name: string): Buffer | null {
  return load().lgetxattr(path, name);
}

export function llistxattr(path: string): string[] {
  return load().llistxattr(path);
}

/** Connects to a SOCK_SEQPACKET unix socket (conmon's attach socket); returns a blocking fd. */
export function seqpacketConnect(path: string): number {
  return load().seqpacketConnect(path);
}

export function shutdownWrite(fd: number): void {
  load().shutdown(fd, SHUT_WR);
}

/** Shuts both directions; a read blocked on fd in another thread returns 0 (EOF). */
export function shutdownSocket(fd: number): void {
  load().shutdown(fd, SHUT_RDWR);
}

/** True when path is a mount point, read from /proc/self/mountinfo. */
export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => line.split(' ')[4] === path);
}

/** Whether a process exists (signal 0; EPERM still means it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes a new network namespace with lo up and pins it by bind-mounting it on path (an
 * existing empty file). The calling process's own namespaces do not change.
 */
export function createPinnedNetns(path: string): void {
  load().netnsCreate(path);
}

/** Whether the mount holding path propagates mounts to peers (mountinfo's "shared:N"). */
export async function onSharedMount(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  let best = '';
  let shared = false;
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    const point = f[4];
    if (!point || !(path === point || path.startsWith(point === '/' ? '/' : point + '/')) || point.length < best.length) continue;
    best = point;
    shared = f.slice(6, f.indexOf('-')).some((o) => o.startsWith('shared:'));
  }
  return shared;
}

// Node modules that cost measurable start-up time, loaded on first use: most commands
// never start a process or hash anything.
let childProcessModule: typeof import('node:child_process') | undefined;
export function childProcess(): typeof import('node:child_process') {
  return (childProcessModule ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process'));
}
let cryptoModule: typeof import('node:crypto') | undefined;
export function nodeCrypto(): typeof import('node:crypto') {
  return (cryptoModule ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}
