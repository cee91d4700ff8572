// run/create flags about the container's place on the host: devices, sysctls, shared
// namespaces, /dev/shm, extra groups, exposed ports, a static address, seccomp profiles,
// the id file and which streams a foreground run attaches. Each value is checked here,
// before anything is created.
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { isIP } from '../sys/index.js';
import { dirname, resolve } from 'node:path';
import type { FlagValues } from './args.js';
import type { ContainerNamespaces, ContainerSpec, JoinedNamespaces } from '../container/index.js';
import { invalidArgument } from '../errors/index.js';
import { seccompFromProfile, validateSysctls } from '../oci/index.js';
import { parseBytes, parseDevice, parseExpose, parseSysctls } from './options.js';

type NamespaceKind = 'pid' | 'ipc' | 'uts';

/** --pid/--ipc/--uts: 'host', a container's (by name, resolved at create), or a new one. */
function namespaceMode(kind: NamespaceKind, v: string | undefined): { host?: true; container?: string } {
  if (v === undefined || v === '' || v === 'private' || (kind === 'ipc' && v === 'shareable')) return {};
  if (v === 'host') return { host: true };
  if (v.startsWith('container:') && v.length > 'container:'.length) return { container: v.slice('container:'.length) };
  const modes = kind === 'ipc' ? 'private, shareable, host or container:NAME' : 'private, host or container:NAME';
  throw invalidArgument(`unrecognized namespace mode "${v}" for --${kind}: ${modes}`);
}

export interface HostOptions {
  /** Fields of the container spec these flags set. */
  spec: Pick<ContainerSpec, 'devices' | 'sysctls' | 'namespaces' | 'namespaceContainers' | 'shmSize' | 'ipcShareable' | 'exposedPorts' | 'cidFile'>;
  groupAdd: string[];
  ip?: string;
}

/** The flags above as spec fields; network is the --network value given (undefined: the default). */
export function hostOptionsFromFlags(f: FlagValues, network: string | undefined): HostOptions {
  const strings = (k: string) => (f[k] as string[] | undefined) ?? [];
  const namespaces: JoinedNamespaces = {};
  const namespaceContainers: ContainerNamespaces = {};
  for (const kind of ['pid', 'ipc', 'uts'] as const) {
    const m = namespaceMode(kind, f[kind] as string | undefined);
    if (m.host) namespaces[kind] = 'host';
    if (m.container !== undefined) namespaceContainers[kind] = m.container;
  }
  if (f.hostname !== undefined && (namespaces.uts || namespaceContainers.uts))
    throw invalidArgument(`cannot set a hostname with --uts ${f.uts}: the UTS namespace is not the container's own`);
  let shmSize: number | undefined;
  if (f['shm-size'] !== undefined) {
    if (namespaces.ipc || namespaceContainers.ipc) throw invalidArgument(`cannot set --shm-size with --ipc ${f.ipc}: /dev/shm is not the container's own`);
    shmSize = parseBytes(f['shm-size'] as string, '--shm-size');
    if (shmSize < 1) throw invalidArgument('invalid --shm-size 0: it must be at least 1 byte');
  }
  const sysctls = parseSysctls(strings('sysctl'));
  if (Object.keys(sysctls).length) validateSysctls(sysctls, { hostNetwork: network === 'host', hostIpc: namespaces.ipc === 'host' });
  const groupAdd = strings('group-add');
  for (const g of groupAdd) {
    if (g === 'keep-groups') throw invalidArgument('--group-add keep-groups is not supported: it keeps the groups of a rootless caller, through crun');
    if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(g)) throw invalidArgument(`invalid group "${g}" for --group-add`);
  }
  const ip = f.ip as string | undefined;
  if (ip !== undefined) {
    if (!isIP(ip)) throw invalidArgument(`"${ip}" is not an ip address (--ip)`);
    if (network === 'none' || network === 'host' || network?.startsWith('container:'))
      throw invalidArgument(`--ip can only be set when the container has its own network (not --network ${network})`);
    if (network?.includes(',')) throw invalidArgument('--ip can only be set for a single network');
  }
  const exposedPorts = [...new Set(strings('expose').flatMap(parseExpose))];
  const cidFile = f.cidfile as string | undefined;
  if (cidFile !== undefined) checkCidFile(cidFile);
  const devices = strings('device').map(parseDevice);
  return {
    spec: {
      ...(devices.length ? { devices } : {}),
      ...(Object.keys(sysctls).length ? { sysctls } : {}),
      ...(Object.keys(namespaces).length ? { namespaces } : {}),
      ...(Object.keys(namespaceContainers).length ? { namespaceContainers } : {}),
      ...(shmSize !== undefined ? { shmSize } : {}),
      ...(f.ipc === 'shareable' ? { ipcShareable: true } : {}),
      ...(exposedPorts.length ? { exposedPorts } : {}),
      ...(cidFile !== undefined ? { cidFile: resolve(cidFile) } : {}),
    },
    groupAdd,
    ip,
  };
}

/** --security-opt seccomp=FILE: the file's profile, checked now (a bad one is refused here). */
export function readSeccompProfile(path: string): { path: string; profile: unknown } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalidArgument(`opening seccomp profile ${path} failed: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  let profile: unknown;
  try {
    profile = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`loading seccomp profile ${path} failed: not JSON (${(e as Error).message})`);
  }
  seccompFromProfile(profile, path);
  return { path: resolve(path), profile };
}

/** --cidfile: refused when the file exists (as podman) or its directory does not. */
export function checkCidFile(file: string): void {
  if (existsSync(file)) throw invalidArgument(`container id file exists. Ensure another container is not using it or delete ${file}`);
  let dir;
  try {
    dir = statSync(dirname(resolve(file)));
  } catch {
    dir = undefined;
  }
  if (!dir?.isDirectory()) throw invalidArgument(`cannot write the container id file ${file}: ${dirname(resolve(file))} is not a directory`);
}

/** Writes the id to the --cidfile; a file made meanwhile by someone else is not overwritten. */
export function writeCidFile(file: string, id: string): void {
  let fd;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') checkCidFile(file);
    throw invalidArgument(`cannot write the container id file ${file}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, id);
  } finally {
    closeSync(fd);
  }
}

/** -a/--attach: the streams a foreground run connects (undefined: all of them). */
export function attachedStreams(f: FlagValues): Set<'stdin' | 'stdout' | 'stderr'> | undefined {
  const given = (f.attach as string[] | undefined) ?? [];
  if (!given.length) return undefined;
  if (f.detach) throw invalidArgument('conflicting options: --attach and --detach cannot be used together');
  const out = new Set<'stdin' | 'stdout' | 'stderr'>();
  for (const s of given.flatMap((g) => g.split(','))) {
    const name = s.trim().toLowerCase();
    if (name !== 'stdin' && name !== 'stdout' && name !== 'stderr') throw invalidArgument(`invalid stream "${s}" for --attach: must be stdin, stdout or stderr`);
    out.add(name);
  }
  return out;
}
