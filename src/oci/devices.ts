// Device nodes and device-cgroup rules.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { invalidArgument } from '../errors/index.js';
import { join } from 'node:path';
import type { Device, DeviceRule } from './types.js';

/** The device-cgroup allow rules every container gets (runc's and docker's defaults). */
export function defaultDeviceRules(): DeviceRule[] {
  const c = (major: number | undefined, minor: number | undefined, access = 'rwm'): DeviceRule =>
    ({ allow: true, type: 'c', major, minor, access });
  return [
    { allow: false, access: 'rwm' },
    c(undefined, undefined, 'm'), // mknod of any char device (using it still needs a rule)
    { allow: true, type: 'b', access: 'm' },
    c(1, 3), // null
    c(1, 5), // zero
    c(1, 7), // full
    c(1, 8), // random
    c(1, 9), // urandom
    c(5, 0), // tty
    c(5, 1), // console
    c(5, 2), // ptmx
    c(136, undefined), // pts/*
    c(10, 200), // net/tun
  ];
}

// Pseudo filesystems and per-container nodes that a privileged container gets its own of.
const SKIPPED = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/fd', '/dev/console', '/dev/ptmx']);

/** All char/block devices under the host's /dev, for --privileged. */
export function hostDevices(dir = '/dev'): Device[] {
  const out: Device[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (SKIPPED.has(path)) continue;
    let st;
    try {
      st = lstatSync(path, { bigint: true });
    } catch {
      continue; // vanished while listing
    }
    if (st.isDirectory()) {
      out.push(...hostDevices(path));
      continue;
    }
    if (!st.isCharacterDevice() && !st.isBlockDevice()) continue;
    out.push(nodeOf(path, st));
  }
  return out;
}

function nodeOf(path: string, st: import('node:fs').BigIntStats): Device {
  const rdev = st.rdev;
  return {
    path,
    type: st.isCharacterDevice() ? 'c' : 'b',
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
    fileMode: Number(st.mode & 0o777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** The device node at hostPath, to be created at containerPath. */
export function deviceNode(hostPath: string, containerPath: string): Device {
  if (!isAbsolute(hostPath) || !isAbsolute(containerPath)) throw invalidArgument(`device paths must be absolute: ${hostPath}:${containerPath}`);
  let st;
  try {
    st = statSync(hostPath, { bigint: true });
  } catch {
    throw invalidArgument(`device ${hostPath} does not exist`);
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw invalidArgument(`${hostPath} is not a device`);
  return { ...nodeOf(containerPath, st), uid: 0, gid: 0 };
}
