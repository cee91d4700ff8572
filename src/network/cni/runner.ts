// The caller side of CNI: runs a network's plugin chain for ADD (in order, each getting
// the previous result), DEL (in reverse), CHECK, GC and STATUS, with the attachment cache.
import { existsSync } from 'node:fs';
import { BerthError, notFound } from '../../errors/index.js';
import { log } from '../../log/index.js';
import { AttachmentCache, type CachedAttachment } from './cache.js';
import { loadNetworks, pluginStdin, versionAtLeast, type LoadedNetworks, type NetworkConfigList } from './config.js';
import { CniPluginError, execPlugin, pluginRunning, type CniCommand, type PluginProcess } from './exec.js';
import { removeMasquerade } from './masquerade.js';
import { rebuildResult } from './rebuild.js';
import { isResult, type CniResult } from './result.js';

/** Default plugin search path: the upstream location, then Debian's. */
const DEFAULT_PLUGIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni'];
const DEFAULT_CONF_DIR = '/etc/cni/net.d';
const DEFAULT_PLUGIN_TIMEOUT_MS = 60_000;

export interface CniRunnerOptions {
  confDir?: string;
  pluginDirs?: string[];
  /** Where attachment records live; keep it on persistent storage (the root dir). */
  cacheDir: string;
  /** Per plugin invocation. */
  timeoutMs?: number;
  /** More environment for every plugin. */
  env?: Record<string, string>;
}

/** Identifies one attachment and carries the per-call arguments. */
export interface RuntimeConf {
  containerId: string;
  /** Path of the network namespace. */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs. */
  args?: [string, string][];
  /** runtimeConfig values, passed to plugins that declare the capability (portMappings, bandwidth, ips, mac, dns …). */
  capabilityArgs?: Record<string, unknown>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** ADD: called once the attachment's record is first written (or ADD failed before it was). */
  onRecorded?: () => void;
}

export interface AttachmentKey {
  containerId: string;
  ifName: string;
}

export class CniRunner {
  readonly confDir: string;
  readonly pluginDirs: string[];
  readonly timeoutMs: number;
  readonly cache: AttachmentCache;
  readonly env: Record<string, string>;

  constructor(o: CniRunnerOptions) {
    this.env = o.env ?? {};
    this.confDir = o.confDir ?? DEFAULT_CONF_DIR;
    this.pluginDirs = o.pluginDirs ?? DEFAULT_PLUGIN_DIRS;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
    this.cache = new AttachmentCache(o.cacheDir);
  }

  loadNetworks(): Promise<LoadedNetworks> {
    return loadNetworks(this.confDir);
  }

  /** The network named `name`; a broken file with that name is reported as such. */
  async getNetwork(name: string): Promise<NetworkConfigList> {
    const { networks, invalid } = await this.loadNetworks();
    const list = networks.get(name);
    if (list) return list;
    const broken = invalid.find((i) => i.file.split('/').pop()!.replace(/\.(conflist|conf|json)$/, '').endsWith(name));
    if (broken) throw new BerthError('InvalidArgument', broken.error);
    throw notFound(`no such network: ${name}`);
  }

  /**
   * Attaches the container to the network. The record is written as each plugin starts,
   * with the result so far, so a teardown after a crash at any point has the prevResult
   * DEL needs. On failure the chain is undone with DEL so nothing stays half-attached; if
   * that cleanup fails too, the record is marked failed (see `CachedAttachment.failed`).
   */
  async add(list: NetworkConfigList, rt: RuntimeConf, o: CallOptions = {}): Promise<CniResult> {
    const entry: CachedAttachment = {
      kind: 'berthCniCacheV1',
      networkName: list.name,
      containerId: rt.containerId,
      ifName: rt.ifName,
      netns: rt.netns,
      config: stripFile(list),
      cniArgs: rt.args ?? [],
      capabilityArgs: rt.capabilityArgs ?? {},
      state: 'adding',
      created: new Date().toISOString(),
    };
    let prevResult: CniResult | undefined;
    let reached = 0;
    try {
      for (const plugin of list.plugins) {
        reached++;
        const stdin = this.stdinFor(list, plugin, entry.capabilityArgs, prevResult);
        const out = await this.exec(list, plugin.type, 'ADD', stdin, entry, o, async (proc) => {
          entry.running = { plugin: plugin.type, ...proc };
          entry.result = prevResult;
          await this.cache.write(entry);
          o.onRecorded?.();
        });
        if (out !== undefined) {
          if (!isResult(out)) throw new BerthError('Internal', `network "${list.name}": plugin ${plugin.type} ADD returned no valid result`);
          prevResult = out;
        }
      }
      if (!prevResult) throw new BerthError('Internal', `network "${list.name}": the plugin chain returned no result`);
    } catch (e) {
      // A plugin that could not even be found did nothing to undo.
      const ran = e instanceof CniPluginError || !(e instanceof BerthError && e.code === 'NotFound') ? reached : reached - 1;
      delete entry.running;
      o.onRecorded?.();
      await this.rollback(entry, prevResult, ran, e as Error);
      throw e;
    }
    entry.state = 'added';
    entry.result = prevResult;
    delete entry.running;
    await this.cache.write(entry);
    return prevResult;
  }

  /** Undoes a failed ADD; when that fails too, the record is marked and the error says so. */
  private async rollback(entry: CachedAttachment, partial: CniResult | undefined, ran: number, cause: Error): Promise<void> {
    try {
      await this.runDel({ ...entry, result: partial }, {}, ran);
      await this.cache.remove(entry.networkName, entry.containerId, entry.ifName);
    } catch (e) {
      log.debug('undoing a failed network attach failed', { network: entry.networkName, container: entry.containerId, error: (e as Error).message });
      if (ran > 0) await this.markFailed(entry, e as Error);
      else await this.cache.remove(entry.networkName, entry.containerId, entry.ifName);
      cause.message += ' (undoing it failed too; `berth system prune` retries that)';
    }
  }

  /**
   * Records that DEL failed: the record stays, but teardowns pass it by (see `CachedAttachment.failed`).
   * The netns is released next, and later DELs run without it: the nat rules a plugin
   * would find through it go now.
   */
  async markFailed(entry: CachedAttachment, error: Error): Promise<void> {
    await removeMasquerade(entry.config, entry.containerId).catch((e: Error) => {
      log.debug('removing the nat rules of a failed attachment failed', { network: entry.networkName, container: entry.containerId, error: e.message });
    });
    delete entry.running;
    entry.failed = { error: error.message, at: new Date().toISOString(), attempts: (entry.failed?.attempts ?? 0) + 1 };
    await this.cache.write(entry);
  }

  /**
   * Ends a failed attachment: DEL once more with its recorded configuration, then with the
   * network's current one when that differs (the conflist was fixed); the record goes
   * either way. Returns the error when no DEL succeeded.
   */
  async dropFailed(entry: CachedAttachment, o: CallOptions = {}): Promise<string | undefined> {
    const current = await this.getNetwork(entry.networkName).then(stripFile, () => undefined);
    const configs = [entry.config];
    if (current && JSON.stringify(current) !== JSON.stringify(entry.config)) configs.push(current);
    const netns = entry.netns && existsSync(entry.netns) ? entry.netns : '';
    const errors: string[] = [];
    for (const config of configs) {
      try {
        await this.runDel({ ...entry, config, netns }, o);
        errors.length = 0;
        break;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    await this.cache.remove(entry.networkName, entry.containerId, entry.ifName);
    return errors.length > 0 ? errors.join('; ') : undefined;
  }

  /**
   * Detaches: DEL with the configuration, arguments and result ADD used (from the cache);
   * without a record, the current configuration. Succeeds when nothing is attached.
   */
  async del(networkName: string, key: AttachmentKey & { netns?: string }, o: CallOptions = {}): Promise<void> {
    let entry = await this.cache.read(networkName, key.containerId, key.ifName);
    if (!entry) {
      const list = await this.getNetwork(networkName).catch((e) => {
        if (e instanceof BerthError && e.code === 'NotFound') return undefined;
        throw e;
      });
      if (!list) return; // neither a record nor a configuration: nothing was attached by us
      entry = {
        kind: 'berthCniCacheV1', networkName, containerId: key.containerId, ifName: key.ifName,
        netns: key.netns ?? '', config: list, cniArgs: [], capabilityArgs: {}, state: 'added', created: '',
      };
    }
    if (key.netns !== undefined) entry.netns = key.netns;
    // An ADD cut short by a crash of berth may still be running (plugins outlive berth):
    // DEL only after it, or it would undo less than the ADD then does.
    if (entry.running) await this.waitForPlugin(entry.running, networkName);
    await this.runDel(entry, o);
    await this.cache.remove(networkName, key.containerId, key.ifName);
  }

  private async waitForPlugin(p: PluginProcess & { plugin: string }, networkName: string): Promise<void> {
    if (!pluginRunning(p)) return;
    log.info(`network "${networkName}": waiting for plugin ${p.plugin} (pid ${p.pid}) of an interrupted attach`);
    const deadline = Date.now() + this.timeoutMs;
    while (pluginRunning(p)) {
      if (Date.now() > deadline) {
        // Its own timeout died with the berth process that started it.
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * DEL through the first `count` plugins in reverse. Every plugin gets its DEL even when
   * an earlier one failed (less is left behind); the failures are reported together.
   */
  private async runDel(entry: CachedAttachment, o: CallOptions, count = entry.config.plugins.length): Promise<void> {
    const list = entry.config;
    // prevResult on DEL came with spec 0.4.0. Without a recorded one (berth died before it
    // could write it), one is rebuilt: plugins such as firewall undo only what it names.
    const prev = versionAtLeast(list.cniVersion, '0.4.0') ? entry.result ?? (await rebuildResult(entry)) : undefined;
    const errors: BerthError[] = [];
    for (const plugin of list.plugins.slice(0, count).reverse()) {
      const stdin = this.stdinFor(list, plugin, entry.capabilityArgs, prev);
      try {
        await this.exec(list, plugin.type, 'DEL', stdin, entry, o);
      } catch (e) {
        errors.push(e as BerthError);
      }
    }
    // Without the netns (removed by hand, or released after a failed DEL) a masquerading
    // plugin cannot learn its addresses, and its nat rules would stay.
    if (!entry.netns || !existsSync(entry.netns)) {
      await removeMasquerade({ ...list, plugins: list.plugins.slice(0, count) }, entry.containerId).catch((e: BerthError) => errors.push(e));
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new BerthError(errors[0]!.code, errors.map((e) => e.message).join('; '));
  }

  /** CHECK (spec 0.4.0+): asks every plugin whether the attachment is still as ADD left it. */
  async check(networkName: string, key: AttachmentKey, o: CallOptions = {}): Promise<void> {
    const entry = await this.cache.read(networkName, key.containerId, key.ifName);
    if (!entry || entry.state !== 'added') throw notFound(`network "${networkName}": container ${key.containerId} is not attached`);
    const list = entry.config;
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw new BerthError('FailedPrecondition', `network "${networkName}": CHECK needs cniVersion 0.4.0 or later (it is ${list.cniVersion})`);
    }
    if (list.disableCheck) return;
    for (const plugin of list.plugins) {
      const stdin = this.stdinFor(list, plugin, entry.capabilityArgs, entry.result);
      await this.exec(list, plugin.type, 'CHECK', stdin, entry, o);
    }
  }

  /**
   * Garbage collection: DELs every cached attachment of this network not in `valid`,
   * then (spec 1.1.0+) sends GC with the valid set so plugins drop leaked resources.
   */
  async gc(list: NetworkConfigList, valid: AttachmentKey[], o: CallOptions = {}): Promise<void> {
    const isValid = (e: AttachmentKey) => valid.some((v) => v.containerId === e.containerId && v.ifName === e.ifName);
    const errors: string[] = [];
    for (const entry of await this.cache.list()) {
      if (entry.networkName !== list.name || isValid(entry)) continue;
      try {
        await this.runDel(entry, o);
        await this.cache.remove(entry.networkName, entry.containerId, entry.ifName);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (versionAtLeast(list.cniVersion, '1.1.0') && !list.disableGC) {
      const attachments = valid.map((v) => ({ containerID: v.containerId, ifname: v.ifName }));
      for (const plugin of list.plugins) {
        // The spec's key; libcni also sends the name an earlier draft used.
        const stdin = { ...pluginStdin(list, plugin), 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': attachments };
        try {
          await this.exec(list, plugin.type, 'GC', stdin, undefined, o);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    }
    if (errors.length > 0) throw new BerthError('Internal', errors.join('; '));
  }

  /** STATUS (spec 1.1.0+): throws when a plugin cannot take ADDs now; a no-op for older versions. */
  async status(list: NetworkConfigList, o: CallOptions = {}): Promise<void> {
    if (!versionAtLeast(list.cniVersion, '1.1.0')) return;
    for (const plugin of list.plugins) {
      await this.exec(list, plugin.type, 'STATUS', pluginStdin(list, plugin), undefined, o);
    }
  }

  /** Builds one plugin's stdin: its config, the runtimeConfig it declared, prevResult. */
  private stdinFor(list: NetworkConfigList, plugin: NetworkConfigList['plugins'][number], capabilityArgs: Record<string, unknown>,
    prevResult: CniResult | undefined): Record<string, unknown> {
    const stdin = pluginStdin(list, plugin);
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
      if (enabled && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) stdin.runtimeConfig = runtimeConfig;
    else delete stdin.runtimeConfig;
    if (prevResult) stdin.prevResult = prevResult;
    return stdin;
  }

  private exec(list: NetworkConfigList, type: string, command: CniCommand, stdin: unknown,
    entry: CachedAttachment | undefined, o: CallOptions, onSpawn?: (p: PluginProcess) => Promise<void>): Promise<unknown> {
    return execPlugin({
      type, command, stdin,
      pluginDirs: this.pluginDirs,
      containerId: entry?.containerId,
      netns: entry?.netns,
      ifName: entry?.ifName,
      args: entry?.cniArgs,
      env: this.env,
      timeoutMs: this.timeoutMs,
      signal: o.signal,
      context: `network "${list.name}"`,
      onSpawn,
    });
  }
}

function stripFile(list: NetworkConfigList): NetworkConfigList {
  const { file: _file, ...rest } = list;
  return rest as NetworkConfigList;
}
