// A container's bind, volume and tmpfs mounts: volumes resolved at create (named ones made
// on first use, anonymous ones for `-v /path` and the image's VOLUMEs), copied up and turned
// into OCI mounts at each instantiate, anonymous ones removed with the container.
import { posix } from 'node:path';
import type { Image } from '../image/index.js';
import { resolveInRootfs, type Mount } from '../oci/index.js';
import { failedPrecondition, invalidArgument } from '../errors/index.js';
import { log } from '../log/index.js';
import { mountPropagation } from '../sys/index.js';
import type { ContainerSpec, Propagation, VolumeMount } from './spec.js';
import type { Parts } from './parts.js';

const clean = (p: string) => posix.normalize(p).replace(/(.)\/+$/, '$1');

/**
 * The spec with every volume named: the image's VOLUMEs not mounted otherwise become
 * anonymous volumes (when the spec asks for them), and each volume exists afterwards.
 */
export async function resolveVolumes(parts: Parts, spec: ContainerSpec, image: Image): Promise<ContainerSpec> {
  const mounts = [...(spec.mounts ?? [])];
  const taken = new Set<string>();
  for (const m of mounts) {
    if (taken.has(clean(m.destination))) throw invalidArgument(`duplicate mount destination ${clean(m.destination)}`);
    taken.add(clean(m.destination));
  }
  if (spec.imageVolumes) {
    for (const dest of Object.keys(image.config.config?.Volumes ?? {})) {
      if (!taken.has(clean(dest))) mounts.push({ type: 'volume', name: '', destination: dest, anonymous: true });
      taken.add(clean(dest));
    }
  }
  if (!mounts.some((m) => m.type === 'volume')) return spec;
  const volumes = await parts.volumes();
  const made: string[] = [];
  try {
    for (const [i, m] of mounts.entries()) {
      if (m.type !== 'volume') continue;
      if (m.name === '') {
        const v = await volumes.create({ anonymous: true });
        made.push(v.name);
        mounts[i] = { ...m, name: v.name, anonymous: true };
      } else {
        await volumes.ensure(m.name, m.options);
      }
    }
  } catch (e) {
    for (const name of made) await volumes.remove(name, { force: true }).catch(() => undefined);
    throw e;
  }
  return { ...spec, mounts };
}

/**
 * The spec's mounts as OCI mounts, and the propagation the container's / needs for them.
 * A new volume gets the image's content at its mount point first (rootfs is mounted).
 * Bind sources are not created (buildSpec checks that they exist).
 */
export async function ociMounts(parts: Parts, spec: ContainerSpec, rootfs: string): Promise<{ mounts: Mount[]; rootfsPropagation?: 'rshared' | 'rslave' }> {
  const out: Mount[] = [];
  let rootfsPropagation: 'rshared' | 'rslave' | undefined;
  for (const m of spec.mounts ?? []) {
    if (m.type === 'tmpfs') {
      out.push({ destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...m.options] });
      continue;
    }
    const source = m.type === 'volume' ? await volumeSource(parts, m, rootfs) : m.source;
    if (m.propagation) {
      await checkPropagation(source, m.propagation);
      // As podman and runc want it: mounts only propagate through a / that does.
      if (m.propagation.endsWith('shared')) rootfsPropagation = 'rshared';
      else if (m.propagation.endsWith('slave') && rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
    }
    out.push({ destination: m.destination, type: 'bind', source, options: ['rbind', m.readOnly ? 'ro' : 'rw', ...(m.flags ?? []), ...(m.propagation ? [m.propagation] : [])] });
  }
  return { mounts: out, rootfsPropagation };
}

async function volumeSource(parts: Parts, m: VolumeMount, rootfs: string): Promise<string> {
  const volumes = await parts.volumes();
  const source = await volumes.use(m.name);
  if (!m.noCopy) await volumes.copyUp(m.name, await resolveInRootfs(rootfs, m.destination));
  return source;
}

/**
 * Mounts made on the host reach a container only from a shared or slave source mount, and
 * the container's reach the host only through a shared one (as docker and containerd require).
 */
async function checkPropagation(source: string, p: Propagation): Promise<void> {
  if (!p.endsWith('shared') && !p.endsWith('slave')) return;
  const has = await mountPropagation(source);
  if (p.endsWith('shared') && has !== 'shared') throw failedPrecondition(`path ${source} is not on a shared mount: ${p} propagation needs one (mount --make-shared)`);
  if (has === 'private') throw failedPrecondition(`path ${source} is not on a shared or slave mount: ${p} propagation needs one`);
}

/** Removes the container's anonymous volumes that no other container uses. */
export async function removeAnonymousVolumes(parts: Parts, spec: ContainerSpec): Promise<void> {
  const names = (spec.mounts ?? []).flatMap((m) => (m.type === 'volume' && m.anonymous && m.name ? [m.name] : []));
  if (names.length === 0) return;
  const volumes = await parts.volumes();
  for (const name of names) {
    await volumes.remove(name).catch((e: Error) => log.debug('anonymous volume kept', { name, error: e.message }));
  }
}
