// What the pieces of the container manager share: the records, the runtime boundary, the
// path layout and the lazily built services below.
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { ImageStore } from '../image/index.js';
import type { Snapshotter } from '../snapshot/index.js';
import type { NetworkManager } from '../network/index.js';
import type { VolumeStore } from '../volume/index.js';
import type { ContainerRecords } from './records.js';
import type { ContainerRuntime } from './runtime.js';
import type { Container } from './types.js';

/** Where a container's files live. */
export interface ContainerPaths {
  /** Persistent: bundle (config.json), upper/work dirs, rootfs mount point, hosts files. */
  dir: string;
  rootfs: string;
  /** The spec's log path, or <dir>/ctr.log. */
  logPath: string;
  /** Runtime: conmon's pid files and control fifo. */
  persistDir: string;
}

export interface Parts {
  config: Config;
  records: ContainerRecords;
  runtime: ContainerRuntime;
  images: () => Promise<ImageStore>;
  snapshots: () => Promise<Snapshotter>;
  network: () => Promise<NetworkManager>;
  volumes: () => Promise<VolumeStore>;
  /** <containersDir>/<id> holds each container's persistent files. */
  containersDir: string;
  /** Where network namespaces are made (<netnsDir>/<owner id>). */
  netnsDir: string;
  /** Other owners of network namespaces and attachments (pods): the sweep leaves theirs alone. */
  networkOwners: ((id: string) => boolean | Promise<boolean>)[];
  /** Program + args conmon runs when a container exits; the container id is appended. */
  cleanupCommand?: string[];
  /** Program + args a container's health check timer runs (container id and monitor pid appended). */
  healthcheckCommand?: string[];
}

export function containerPaths(parts: Parts, c: Pick<Container, 'id' | 'config'>): ContainerPaths {
  const dir = join(parts.containersDir, c.id);
  return { dir, rootfs: join(dir, 'rootfs'), logPath: c.config.logPath ?? join(dir, 'ctr.log'), persistDir: parts.runtime.monitorDir(c.id) };
}
