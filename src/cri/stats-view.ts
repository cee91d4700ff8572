// Container stats as the CRI's ContainerStats: cgroup usage and the writable layer, from
// ContainerManager.stats; a container that is not running has its attributes only.
import type { Container, ContainerManager } from '../container/index.js';
import type { Engine } from '../engine/index.js';
import { containerMetadata } from './container-view.js';
import { nanos, userAnnotations } from './pod-view.js';

export async function toCriStats(engine: Engine, containers: ContainerManager, c: Container): Promise<object> {
  const m = containerMetadata(c);
  const attributes = { id: c.id, metadata: { name: m.name, attempt: m.attempt }, labels: c.config.labels ?? {}, annotations: userAnnotations(c.config.annotations) };
  if (c.state !== 'running') return { attributes, cpu: null, memory: null, writable_layer: null };
  const s = await containers.stats(c.id, { writableLayer: true });
  const ts = nanos(s.timestamp);
  const v = (n: number | undefined) => (n === undefined ? null : { value: n });
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
