// The infra process of a pod whose containers share one PID namespace: a PID namespace
// lives only while a process is in it, so such a pod runs the host's catatonit in pause
// mode as its PID 1, under conmon like any container, in the pod's other namespaces and
// cgroup. Its rootfs is an empty read-only dir with only the binary bind-mounted in: no
// image is pulled. Pods without a shared PID namespace run no process at all.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRuntime } from '../container/index.js';
import { unavailable } from '../errors/index.js';
import { findExecutable } from '../sys/index.js';

export interface InfraProcess {
  pid: number;
  conmonPid: number;
}

export interface InfraOptions {
  id: string;
  name: string;
  /** <runRoot>/pods/<id>/infra */
  bundle: string;
  namespaces: { network?: string; ipc?: string; uts?: string };
  cgroupsPath: string;
}

function catatonit(): string {
  const found = findExecutable('catatonit');
  if (!found) throw unavailable('a pod whose containers share a PID namespace needs catatonit on the host (apt install catatonit)');
  return found;
}

/** Creates and starts the infra process; resolves with its pid and its monitor's. */
export async function startInfra(runtime: ContainerRuntime, o: InfraOptions, signal?: AbortSignal): Promise<InfraProcess> {
  const binary = catatonit();
  const rootfs = join(o.bundle, 'rootfs');
  // runc's own init needs /proc; the rest of the rootfs stays empty.
  mkdirSync(join(rootfs, 'proc'), { recursive: true });
  appendFileSync(join(rootfs, 'catatonit'), '');
  const joined = (type: 'network' | 'ipc' | 'uts') => (o.namespaces[type] ? [{ type, path: o.namespaces[type] }] : []);
  const none: string[] = [];
  const spec = {
    ociVersion: '1.0.2',
    process: {
      args: ['/catatonit', '-P'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      env: ['PATH=/'],
      noNewPrivileges: true,
      capabilities: { bounding: none, effective: none, permitted: none, inheritable: none, ambient: none },
    },
    root: { path: 'rootfs', readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/catatonit', type: 'bind', source: binary, options: ['bind', 'ro', 'nosuid', 'nodev'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, ...joined('network'), ...joined('ipc'), ...joined('uts')],
      cgroupsPath: o.cgroupsPath,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
  writeFileSync(join(o.bundle, 'config.json'), JSON.stringify(spec));
  const created = await runtime.create(o.id, { name: o.name, bundle: o.bundle, logPath: join(o.bundle, 'infra.log'), terminal: false, stdin: false, signal });
  await runtime.start(o.id, { signal });
  return created;
}

/** Ends the infra process and forgets it (idempotent). */
export async function stopInfra(runtime: ContainerRuntime, id: string): Promise<void> {
  await runtime.delete(id, { force: true });
  await runtime.forget(id);
}
