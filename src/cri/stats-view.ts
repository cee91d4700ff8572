// Usage as the CRI's ContainerStats and PodSandboxStats: cgroup usage and the writable
// layer from ContainerManager.stats, pods' from PodManager.stats; a container that is not
// running has its attributes only.
import type { Container, ContainerManager, ContainerStats } from '../container/index.js';
import type { Engine } from '../engine/index.js';
import type { Pod, PodStats } from '../pod/index.js';
import { containerMetadata } from './container-view.js';
import { nanos } from './context.js';
import { podMetadata, userAnnotations } from './pod-view.js';

const v = (n: number | undefined) => (n === undefined ? null : { value: n });

export async function toCriStats(engine: Engine, containers: ContainerManager, c: Container): Promise<object> {
  return formatStats(engine, c, c.state === 'running' ? await containers.stats(c, { writableLayer: true }) : undefined);
}

function formatStats(engine: Engine, c: Container, s: ContainerStats | undefined): object {
  const m = containerMetadata(c);
  const attributes = { id: c.id, metadata: { name: m.name, attempt: m.attempt }, labels: c.config.labels ?? {}, annotations: userAnnotations(c.config.annotations) };
  if (!s) return { attributes, cpu: null, memory: null, writable_layer: null };
  const ts = nanos(s.timestamp);
  return {
    attributes,
    cpu: { timestamp: ts, usage_core_nano_seconds: v(s.cpuNanos) },
    memory: {
      timestamp: ts,
      working_set_bytes: v(s.memory.workingSetBytes),
      available_bytes: v(s.memory.limitBytes === undefined ? undefined : Math.max(0, s.memory.limitBytes - s.memory.workingSetBytes)),
      usage_bytes: v(s.memory.usageBytes),
      rss_bytes: v(s.memory.rssBytes),
      page_faults: v(s.memory.pageFaults),
      major_page_faults: v(s.memory.majorPageFaults),
    },
    writable_layer: s.writableLayer
      ? { timestamp: ts, fs_id: { mountpoint: engine.paths.snapshots }, used_bytes: v(s.writableLayer.usedBytes), inodes_used: v(s.writableLayer.inodesUsed) }
      : null,
  };
}

/** The pod's usage; eth0 (or the first interface) is the default one. */
export function toCriPodStats(engine: Engine, pod: Pod, s: PodStats): object {
  const ts = nanos(s.timestamp);
  const ifaces = s.interfaces.map((i) => ({ name: i.name, rx_bytes: v(i.rxBytes), rx_errors: v(i.rxErrors), tx_bytes: v(i.txBytes), tx_errors: v(i.txErrors) }));
  return {
    attributes: { id: pod.id, metadata: podMetadata(pod), labels: pod.spec.labels ?? {}, annotations: userAnnotations(pod.spec.annotations) },
    linux: {
      cpu: { timestamp: ts, usage_core_nano_seconds: v(s.cpuNanos) },
      memory: { timestamp: ts, working_set_bytes: v(s.memoryWorkingSetBytes), usage_bytes: v(s.memoryUsageBytes) },
      network: { timestamp: ts, default_interface: ifaces.find((i) => i.name === 'eth0') ?? ifaces[0] ?? null, interfaces: ifaces },
      process: { timestamp: ts, process_count: v(s.processes) },
      containers: s.containers.map((x) => formatStats(engine, x.container, x.stats)),
    },
  };
}
