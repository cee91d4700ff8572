// Pods as the CRI shows them. The CRI's own view of a pod (its metadata and the labels and
// annotations as given) is kept in the pod's annotations under one reserved key and taken
// out again on the way back, so status and list answer with exactly what was sent.
import type { Pod } from '../pod/index.js';
import { invalidArgument } from '../errors/index.js';
import { nanos } from './context.js';
import type { NamespaceMode, PodSandbox, PodSandboxMetadata } from './types.js';

/** The annotation holding the CRI metadata of a pod or container (JSON). */
export const CRI_METADATA = 'io.berth.cri.metadata';

/** The annotations as the caller gave them (the reserved key taken out). */
export function userAnnotations(a: Record<string, string> | undefined): Record<string, string> {
  const { [CRI_METADATA]: _, ...rest } = a ?? {};
  return rest;
}

export function storedMetadata<T>(a: Record<string, string> | undefined): T | undefined {
  const raw = a?.[CRI_METADATA];
  return raw ? (JSON.parse(raw) as T) : undefined;
}

export function podMetadata(pod: Pod): PodSandboxMetadata {
  return storedMetadata<PodSandboxMetadata>(pod.spec.annotations) ?? { name: pod.name, uid: '', namespace: '', attempt: 0 };
}

/** READY only while the pod's namespaces and network are up. */
export function podState(pod: Pod): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' {
  return pod.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

export function toCriPod(pod: Pod): PodSandbox {
  return {
    id: pod.id,
    metadata: podMetadata(pod),
    state: podState(pod),
    created_at: nanos(pod.createdAt),
    labels: pod.spec.labels ?? {},
    annotations: userAnnotations(pod.spec.annotations),
    runtime_handler: '',
  };
}

/** The pod's namespace modes as NamespaceOption gives them. */
export function podNamespaceModes(pod: Pod): { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode } {
  const s = pod.spec;
  return {
    network: s.network === 'host' ? 'NODE' : 'POD',
    ipc: s.ipc === 'host' ? 'NODE' : 'POD',
    pid: s.pid === 'host' ? 'NODE' : s.pid === 'pod' ? 'POD' : 'CONTAINER',
  };
}

/** A filter's ID when it is a whole one (a listing then reads only that pod's rows), not a prefix. */
export function fullId(id: string | undefined): string | undefined {
  return id && /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}

/** Every label in the selector has that value. */
export function matchesLabels(labels: Record<string, string> | undefined, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

/** A required string field of a request. */
export function required(value: string | undefined | null, what: string): string {
  if (!value) throw invalidArgument(`${what} is empty`);
  return value;
}
