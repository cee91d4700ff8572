// Containers as the CRI shows them: states, reasons, times in ns, and the CRI's own view
// (metadata, the image as asked for, the mounts as given) kept under the reserved
// annotation (see pod-view.ts).
import type { Container, ContainerResources } from '../container/index.js';
import type { ImageStore } from '../image/index.js';
import { imageId, toCriImage } from './image-view.js';
import { nanos } from './context.js';
import { storedMetadata, userAnnotations } from './pod-view.js';
import type { ContainerMetadata, ContainerStateName, ImageSpec, LinuxContainerResources, Mount } from './types.js';

/** What CreateContainer keeps of the request. */
export interface CriContainerMetadata extends ContainerMetadata {
  image: ImageSpec;
  mounts: Mount[];
}

/** Parsed once per row read (listings hand out the same rows while nothing changed). */
const parsed = new WeakMap<Container['config'], CriContainerMetadata>();

export function containerMetadata(c: Container): CriContainerMetadata {
  let m = parsed.get(c.config);
  if (!m) {
    m = storedMetadata<CriContainerMetadata>(c.config.annotations) ?? { name: c.name, attempt: 0, image: { image: c.config.image, annotations: {} }, mounts: [] };
    parsed.set(c.config, m);
  }
  return m;
}

export function containerState(c: Container): ContainerStateName {
  switch (c.state) {
    case 'creating':
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
      return 'CONTAINER_RUNNING';
    case 'stopped':
    // Being removed: its process is gone already (a running container is killed first).
    case 'removing':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

/** The kubelet's reasons for an exited container. */
export function exitReason(c: Container): string {
  if (c.state !== 'stopped') return '';
  if (c.oomKilled) return 'OOMKilled';
  return c.exitCode === 0 ? 'Completed' : 'Error';
}

/** image_id is the image's ID; image_ref its repo digest where it has one (containerd's choice). */
export function imageRefs(c: Container, images: ImageStore): { image_id: string; image_ref: string } {
  try {
    const image = images.resolve(c.imageId ?? c.config.image);
    return { image_id: imageId(image), image_ref: toCriImage(image).repo_digests[0] ?? imageId(image) };
  } catch {
    const id = c.imageId ? `sha256:${c.imageId}` : '';
    return { image_id: id, image_ref: id };
  }
}

/** imageRefs for a listing: each image is looked up once (its containers mostly share a few). */
export function imageRefsOnce(images: ImageStore): (c: Container) => ReturnType<typeof imageRefs> {
  const seen = new Map<string, ReturnType<typeof imageRefs>>();
  return (c) => {
    const key = c.imageId ?? c.config.image;
    let refs = seen.get(key);
    if (!refs) seen.set(key, (refs = imageRefs(c, images)));
    return refs;
  };
}

export function toCriContainer(c: Container, refs: (c: Container) => ReturnType<typeof imageRefs>): object {
  const m = containerMetadata(c);
  return {
    id: c.id,
    pod_sandbox_id: c.podId ?? '',
    metadata: { name: m.name, attempt: m.attempt },
    image: m.image,
    ...refs(c),
    state: containerState(c),
    created_at: nanos(c.createdAt),
    labels: c.config.labels ?? {},
    annotations: userAnnotations(c.config.annotations),
  };
}

/** 0 means unset in the CRI's int64 fields. */
export function resourcesOf(r: LinuxContainerResources): ContainerResources {
  const n = (v: string | number | undefined) => (v === undefined || Number(v) === 0 ? undefined : Number(v));
  return {
    cpuShares: n(r.cpu_shares),
    cpuQuota: n(r.cpu_quota),
    cpuPeriod: n(r.cpu_period),
    cpusetCpus: r.cpuset_cpus || undefined,
    cpusetMems: r.cpuset_mems || undefined,
    memory: n(r.memory_limit_in_bytes),
    memorySwap: n(r.memory_swap_limit_in_bytes),
    hugepages: r.hugepage_limits?.length ? r.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: Number(h.limit) })) : undefined,
    unified: r.unified && Object.keys(r.unified).length ? r.unified : undefined,
    // Never negative: lowering it needs CAP_SYS_RESOURCE, which a host may lack (containerd's restrict_oom_score_adj).
    oomScoreAdj: n(r.oom_score_adj) === undefined ? undefined : Math.max(Number(r.oom_score_adj), 0),
  };
}

/** The container's limits as the CRI reports them (0: unset). */
export function criResourcesOf(r: ContainerResources | undefined): object {
  const n = (v: number | undefined) => String(v ?? 0);
  return {
    linux: {
      cpu_period: n(r?.cpuPeriod),
      cpu_quota: n(r?.cpuQuota),
      cpu_shares: n(r?.cpuShares),
      memory_limit_in_bytes: n(r?.memory),
      oom_score_adj: n(r?.oomScoreAdj),
      cpuset_cpus: r?.cpusetCpus ?? '',
      cpuset_mems: r?.cpusetMems ?? '',
      hugepage_limits: (r?.hugepages ?? []).map((h) => ({ page_size: h.pageSize, limit: String(h.limit) })),
      unified: r?.unified ?? {},
      memory_swap_limit_in_bytes: n(r?.memorySwap),
    },
  };
}
