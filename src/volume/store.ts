// VolumeStore: named and anonymous volumes of the local driver, each a directory
// <dir>/<name>/_data (podman's layout). Intent is recorded before acting: a row is
// 'creating' before its directory exists and 'removing' before the directory goes, and a
// row whose owner died is finished (removed) by the next look.
import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidName } from '../config/index.js';
import { failedPrecondition, internal, invalidArgument, notFound } from '../errors/index.js';
import type { Store } from '../store/index.js';
import { MNT_DETACH, execFileAsync, isMountPoint, parkPoint, processToken, removePaths, tokenAlive, unmount } from '../sys/index.js';
import { VolumeRecords } from './records.js';
import type { Volume, VolumeUsers } from './types.js';

export interface CreateVolumeOptions {
  /** Default: 64 random hex digits, as podman names an unnamed volume. */
  name?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  anonymous?: boolean;
}

export class VolumeStore {
  readonly records: VolumeRecords;

  constructor(
    store: Store,
    /** <root>/volumes */
    private readonly dir: string,
    private readonly users: () => Promise<VolumeUsers>,
    namespace?: string,
  ) {
    this.records = new VolumeRecords(store, namespace);
  }

  /** Where a volume's data lives on the host. */
  mountpoint(name: string): string {
    return join(this.dir, name, '_data');
  }

  async create(o: CreateVolumeOptions = {}): Promise<Volume> {
    const name = o.name ?? randomHex64();
    if (!isValidName(name)) throw invalidArgument(`invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const opts = o.options ?? {};
    checkOptions(opts);
    // A leftover of a creator or remover that died must not block the name.
    await this.reconcile(this.records.byName(name));
    await this.records.insertCreating({ name, labels: o.labels ?? {}, options: opts, anonymous: !!o.anonymous, createdAt: Date.now() }, processToken());
    try {
      await mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
    } catch (e) {
      await this.records.delete(name).catch(() => undefined);
      throw internal(`creating volume ${name}: ${(e as Error).message}`, e);
    }
    await parkPoint('volume-creating');
    await this.records.setReady(name);
    return this.records.byName(name)!;
  }

  /**
   * The host path to mount for the volume. One made with driver options has its filesystem
   * mounted there first (as `mount -t TYPE -o O DEVICE`), which stays until the volume goes.
   */
  async use(name: string): Promise<string> {
    const v = await this.get(name);
    const data = this.mountpoint(name);
    const { type, device, o } = v.options;
    if (type && !(await isMountPoint(await realpath(data)))) {
      try {
        await execFileAsync('mount', ['-t', type, ...(o ? ['-o', o] : []), '--', device ?? type, data]);
      } catch (e) {
        throw failedPrecondition(`mounting volume ${name}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
      }
    }
    return data;
  }

  /** The volume called name, made now (with options) if there is none (`-v NAME:/path` on first use). */
  async ensure(name: string, options?: Record<string, string>): Promise<Volume> {
    const v = await this.reconcile(this.records.byName(name));
    if (v?.state === 'ready') return v;
    if (v) throw failedPrecondition(`volume ${name} is being ${v.state === 'creating' ? 'created' : 'removed'}`);
    try {
      return await this.create({ name, options });
    } catch (e) {
      // Made by another process meanwhile.
      const again = this.records.byName(name);
      if (again?.state === 'ready') return again;
      throw e;
    }
  }

  async get(name: string): Promise<Volume> {
    const v = await this.reconcile(this.records.byName(name));
    // One being made is not there yet; one being removed is gone.
    if (v?.state !== 'ready') throw notFound(`no such volume ${name}`);
    return v;
  }

  async exists(name: string): Promise<boolean> {
    const v = await this.reconcile(this.records.byName(name));
    return v?.state === 'ready';
  }

  async list(): Promise<Volume[]> {
    const all = await Promise.all(this.records.all().map((v) => this.reconcile(v)));
    return all.filter((v): v is Volume => v !== undefined && v.state === 'ready');
  }

  /** The ids of the containers that use the volume. */
  async usersOf(name: string): Promise<string[]> {
    return (await this.users())(name);
  }

  /** Removes a volume no container uses (force: even then; the caller has dealt with them). */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const v = await this.get(name);
    const users = await this.users();
    if (!(await this.records.markRemoving(v.name, processToken(), () => users(v.name), !!opts.force))) {
      throw failedPrecondition(`volume ${name} is being used by the following container(s): ${users(v.name).join(', ')}: volume is being used`);
    }
    await parkPoint('volume-removing');
    await this.destroy(v.name);
  }

  /** Removes the volumes no container uses (and that keep says yes to); returns their names. */
  async prune(keep: (v: Volume) => boolean = () => false): Promise<string[]> {
    const users = await this.users();
    const removed: string[] = [];
    for (const v of await this.list()) {
      if (keep(v) || users(v.name).length > 0) continue;
      if (await this.records.markRemoving(v.name, processToken(), () => users(v.name), false)) {
        await this.destroy(v.name);
        removed.push(v.name);
      }
    }
    return removed;
  }

  /**
   * docker's copy-up: a volume still as made gets the content (with owners and modes) that
   * the image has at the mount point, once; a volume someone already wrote into keeps its own.
   */
  async copyUp(name: string, source: string): Promise<void> {
    const v = this.records.byName(name);
    if (!v?.needsCopyUp) return;
    const data = this.mountpoint(name);
    const isDir = await stat(source).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (isDir && (await readdir(data)).length === 0) {
      try {
        await execFileAsync('cp', ['-a', '--', `${source}/.`, `${data}/`]);
      } catch (e) {
        throw internal(`copying the image's ${source} into volume ${name}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`, e);
      }
    }
    await this.records.setCopiedUp(name);
  }

  /** A volume whose creator or remover died is removed; undefined once gone. */
  private async reconcile(v: Volume | undefined): Promise<Volume | undefined> {
    if (!v || v.state === 'ready' || (v.owner !== null && tokenAlive(v.owner))) return v;
    if (!(await this.records.claim(v, processToken()))) return this.records.byName(v.name);
    await this.destroy(v.name);
    return undefined;
  }

  private async destroy(name: string): Promise<void> {
    // A volume with driver options may have its filesystem mounted (no error if not).
    unmount(this.mountpoint(name), MNT_DETACH);
    await removePaths([join(this.dir, name)]);
    await this.records.delete(name);
  }
}

/** The local driver's options, as podman's: type and device of a filesystem, o its mount options. */
function checkOptions(opts: Record<string, string>): void {
  for (const k of Object.keys(opts)) {
    if (!['type', 'device', 'o'].includes(k)) throw invalidArgument(`invalid volume option "${k}": the local driver takes type, device and o`);
  }
  if ((opts.device !== undefined || opts.o !== undefined) && !opts.type) throw invalidArgument('volume options device and o need type (e.g. type=tmpfs, or type=none with o=bind)');
}

function randomHex64(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return Buffer.from(b).toString('hex');
}
