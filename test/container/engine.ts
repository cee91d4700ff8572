// The library as berthd will hold it: one engine (the composition root) over a test
// instance's dirs, for tests that drive containers through the library rather than
// through bin/berth.
import { createEngine, type Engine } from '../../src/engine/index.js';
import type { ContainerManager } from '../../src/container/index.js';
import type { ImageStore } from '../../src/image/index.js';
import type { NetworkManager } from '../../src/network/index.js';
import type { Store } from '../../src/store/index.js';

export interface Dirs {
  root: string;
  runRoot: string;
  configDir: string;
}

export interface TestEngine {
  engine: Engine;
  store: Store;
  images: ImageStore;
  network: NetworkManager;
  containers: ContainerManager;
  close(): void;
}

export async function openEngine(
  dirs: Dirs,
  o: { cleanupCommand?: string[]; networkOwners?: ((id: string) => boolean)[] } = {},
): Promise<TestEngine> {
  const cleanup = o.cleanupCommand;
  const engine = createEngine({ ...dirs, cleanupCommand: cleanup && (() => cleanup), networkOwners: o.networkOwners });
  const [store, images, network, containers] = await Promise.all([engine.store(), engine.images(), engine.network(), engine.containers()]);
  return { engine, store, images, network, containers, close: () => engine.close() };
}
