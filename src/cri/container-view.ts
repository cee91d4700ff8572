// Containers as the CRI shows them: states, reasons, times in ns, and the CRI's own view
// (metadata, the image as asked for, the mounts as given) kept under the reserved
// annotation (see pod-view.ts).
import type { Container } from '../container/index.js';
import type { ImageStore } from '../image/index.js';
import { imageId, toCriImage } from './image-view.js';
import { nanos, storedMetadata, userAnnotations } from './pod-view.js';
import type { ContainerMetadata, ContainerStateName, ImageSpec, Mount } from './types.js';

/** What CreateContainer keeps of the request. */
export interface CriContainerMetadata extends ContainerMetadata {
  image: ImageSpec;
  mounts: Mount[];
}

export function containerMetadata(c: Container): CriContainerMetadata {
  return storedMetadata<CriContainerMetadata>(c.config.annotations) ?? { name: c.name, attempt: 0, image: { image: c.config.image, annotations: {} }, mounts: [] };
}

export function containerState(c: Container): ContainerStateName {
  switch (c.state) {
    case 'creating':
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
      return 'CONTAINER_RUNNING';
    case 'stopped':
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

export function toCriContainer(c: Container, images: ImageStore): object {
  const m = containerMetadata(c);
  return {
    id: c.id,
    pod_sandbox_id: c.podId ?? '',
    metadata: { name: m.name, attempt: m.attempt },
    image: m.image,
    ...imageRefs(c, images),
    state: containerState(c),
    created_at: nanos(c.createdAt),
    labels: c.config.labels ?? {},
    annotations: userAnnotations(c.config.annotations),
  };
}
