// The CLI's composition root: builds the library graph lazily, once per command, so a
// command only pays for what it uses (`berth version` never opens the database, `ps` never
// loads the image store).
import { join } from 'node:path';
import { loadConfig, type Config, type ConfigOverrides } from '../config/index.js';
import { openStore, type Store } from '../store/index.js';
import type { Snapshotter } from '../snapshot/index.js';
import type { ImageStore } from '../image/index.js';
import type { ContainerManager } from '../container/index.js';
import type { NetworkManager } from '../network/index.js';

export class Context {
  private cfg?: Config;
  private db?: Store;
  private imageStore?: Promise<ImageStore>;
  private snapshotter?: Promise<Snapshotter>;
  private manager?: Promise<ContainerManager>;
  private networkManager?: Promise<NetworkManager>;

  constructor(readonly overrides: ConfigOverrides) {}

  async config(): Promise<Config> {
    return (this.cfg ??= await loadConfig(this.overrides));
  }

  async store(): Promise<Store> {
    return (this.db ??= openStore((await this.config()).paths.root));
  }

  snapshots(): Promise<Snapshotter> {
    return (this.snapshotter ??= (async () => {
      const { Snapshotter } = await import('../snapshot/index.js');
      return new Snapshotter(join((await this.config()).paths.root, 'snapshots'), await this.store());
    })());
  }

  images(): Promise<ImageStore> {
    return (this.imageStore ??= (async () => {
      const [{ ImageStore }, { ContentStore }, { ContainerRecords }] = await Promise.all([
        import('../image/index.js'), import('../content/index.js'), import('../container/index.js'),
      ]);
      const root = (await this.config()).paths.root;
      const store = await this.store();
      // The image store learns which images are in use from the containers' own records.
      return new ImageStore(store, new ContentStore(join(root, 'content')), await this.snapshots(), new ContainerRecords(store).imageUsers());
    })());
  }

  network(): Promise<NetworkManager> {
    return (this.networkManager ??= (async () => {
      const { NetworkManager } = await import('../network/index.js');
      const { paths, network } = await this.config();
      return new NetworkManager({
        confDir: network.confDir,
        pluginDirs: network.pluginDirs,
        cacheDir: join(paths.root, 'cni', 'results'),
        netnsDir: join(paths.runRoot, 'netns'),
        defaultNetwork: { bridge: network.defaultBridge, subnet: network.defaultSubnet, ipamDataDir: join(paths.root, 'cni', 'networks') },
      });
    })());
  }

  containers(): Promise<ContainerManager> {
    return (this.manager ??= (async () => {
      const { ContainerManager } = await import('../container/index.js');
      return new ContainerManager({
        config: await this.config(),
        store: await this.store(),
        images: () => this.images(),
        snapshots: () => this.snapshots(),
        network: () => this.network(),
        cleanupCommand: await this.cleanupCommand(),
      });
    })());
  }

  /** How conmon calls back into berth when a container exits: this same CLI, same dirs. */
  private async cleanupCommand(): Promise<string[]> {
    const { paths, runtime } = await this.config();
    return [
      process.execPath, process.argv[1],
      '--root', paths.root, '--runroot', paths.runRoot, '--config-dir', paths.configDir, '--runtime', runtime.path,
      'container-cleanup',
    ];
  }
}
