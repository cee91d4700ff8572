// The CLI's composition root: builds the library graph lazily, once per command, so a
// command only pays for what it uses (`berth version` never opens the database).
import { join } from 'node:path';
import { loadConfig, type Config, type ConfigOverrides } from '../config/index.js';
import { openStore, type Store } from '../store/index.js';
import { ContentStore } from '../content/index.js';
import { Snapshotter } from '../snapshot/index.js';
import { ImageStore } from '../image/index.js';
import { ContainerManager } from '../container/index.js';

export class Context {
  private cfg?: Config;
  private db?: Store;
  private imageStore?: ImageStore;
  private snapshotter?: Snapshotter;
  private manager?: ContainerManager;

  constructor(readonly overrides: ConfigOverrides) {}

  async config(): Promise<Config> {
    return (this.cfg ??= await loadConfig(this.overrides));
  }

  async store(): Promise<Store> {
    return (this.db ??= openStore((await this.config()).paths.root));
  }

  async snapshots(): Promise<Snapshotter> {
    if (!this.snapshotter) {
      const { paths } = await this.config();
      this.snapshotter = new Snapshotter(join(paths.root, 'snapshots'), await this.store());
    }
    return this.snapshotter;
  }

  async images(): Promise<ImageStore> {
    if (!this.imageStore) {
      const { paths } = await this.config();
      this.imageStore = new ImageStore(await this.store(), new ContentStore(join(paths.root, 'content')), await this.snapshots());
    }
    return this.imageStore;
  }

  async containers(): Promise<ContainerManager> {
    if (!this.manager) {
      this.manager = new ContainerManager({
        config: await this.config(),
        store: await this.store(),
        images: await this.images(),
        snapshots: await this.snapshots(),
        cleanupCommand: await this.cleanupCommand(),
      });
    }
    return this.manager;
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
