// The library graph over one test instance's dirs, wired as the CLI's composition root
// wires it (real store, snapshotter, image store, CNI and runtime), for tests that drive
// containers through the library rather than through bin/berth.
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { Snapshotter } from '../../src/snapshot/index.js';
import { ContentStore } from '../../src/content/index.js';
import { ImageStore } from '../../src/image/index.js';
import { NetworkManager } from '../../src/network/index.js';
import { ContainerManager, ContainerRecords } from '../../src/container/index.js';

export interface Dirs {
  root: string;
  runRoot: string;
  configDir: string;
}

export interface TestEngine {
  config: Config;
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
  const config = await loadConfig(dirs);
  const { root, runRoot } = config.paths;
  const store = openStore(root);
  const snapshots = new Snapshotter(join(root, 'snapshots'), store);
  const images = new ImageStore(store, new ContentStore(join(root, 'content')), snapshots, new ContainerRecords(store).imageUsers());
  const network = new NetworkManager({
    confDir: config.network.confDir,
    pluginDirs: config.network.pluginDirs,
    cacheDir: join(root, 'cni', 'results'),
    netnsDir: join(runRoot, 'netns'),
    defaultNetwork: { bridge: config.network.defaultBridge, subnet: config.network.defaultSubnet, ipamDataDir: join(root, 'cni', 'networks') },
  });
  const containers = new ContainerManager({
    config,
    store,
    images: async () => images,
    snapshots: async () => snapshots,
    network: async () => network,
    cleanupCommand: o.cleanupCommand,
    networkOwners: o.networkOwners,
  });
  return { config, store, images, network, containers, close: () => store.close() };
}
