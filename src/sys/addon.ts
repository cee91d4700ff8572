// The native addon (./native, built into build/berth_sys.node), loaded on first use.
import { join } from 'node:path';
import { findInstalled } from '../config/index.js';

/** The addon's poller: an opaque handle. */
export type PollHandle = { readonly __poll: unique symbol };

export interface Native {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  mountAt(dir: string, source: string | null, target: string, fstype: string | null, flags: number, data: string | null): Promise<void>;
  umount2(target: string, flags: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  mallocTrim(): boolean;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  seqpacketConnect(path: string): Promise<number>;
  netnsCreate(path: string): Promise<void>;
  dialInNetns(netnsPath: string, host: string, port: number, timeoutMs: number): Promise<number>;
  removePaths(paths: string[]): Promise<void>;
  readSmallFile(path: string, max: number): Promise<Buffer | null>;
  podNsCreate(ipcPath: string | null, utsPath: string | null, hostname: string | null): Promise<void>;
  pollOpen(fd: number, onReady: (events: number, status: number) => void): PollHandle;
  pollWatch(h: PollHandle, events: number): void;
  pollClose(h: PollHandle, onClosed: () => void): void;
  pollShutdown(h: PollHandle, how: number): void;
  recvPacket(h: PollHandle, buf: Buffer): number;
  sendPacket(h: PollHandle, buf: Buffer): number;
  pipe(): [number, number];
  spawn(file: string, argv: string[], envp: string[], cwd: string | null, setsid: boolean, fds: number[]): Promise<[number, number]>;
  pollReap(h: PollHandle): number;
  pollSignal(h: PollHandle, signal: number): boolean;
  pollRef(h: PollHandle, on: boolean): void;
}

let native: Native | undefined;

/** The addon is build/berth_sys.node above this module (src/, out/src/ or the bundle). */
export function load(): Native {
  if (native) return native;
  const path = process.env.BERTH_SYS_ADDON ?? findInstalled(join('build', 'berth_sys.node'));
  native = loadAddon<Native>(path);
  return native;
}

const addons = new Map<string, unknown>();

/**
 * A native addon by its path, loaded once. process.dlopen is what require() ends in: without
 * the module loader, start-up loads no node:module and resolves nothing.
 */
export function loadAddon<T>(path: string): T {
  if (!addons.has(path)) {
    const m = { exports: {} };
    process.dlopen(m, path);
    addons.set(path, m.exports);
  }
  return addons.get(path) as T;
}
