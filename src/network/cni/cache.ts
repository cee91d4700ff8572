// On-disk record of each attachment (network × container × interface): the configuration
// and arguments ADD used and the result it returned, so DEL repeats them exactly after a
// restart or a configuration change. Written as each plugin of the chain starts (with the
// result so far and the plugin's process, so a teardown after a crash mid-ADD knows what
// to undo and what to wait for) and again with the final result; removed once DEL succeeds.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromSystemError } from '../../errors/index.js';
import { writeFileAtomic } from '../../sys/index.js';
import type { NetworkConfigList } from './config.js';
import type { PluginProcess } from './exec.js';
import type { CniResult } from './result.js';

export interface CachedAttachment {
  kind: 'berthCniCacheV1';
  networkName: string;
  containerId: string;
  ifName: string;
  netns: string;
  /** The configuration list exactly as ADD used it. */
  config: NetworkConfigList;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  /** 'adding' until the whole chain succeeded. */
  state: 'adding' | 'added';
  /** While adding: the result of the plugins done so far; then the chain's result. */
  result?: CniResult;
  /** While adding: the plugin process running ADD now. */
  running?: PluginProcess & { plugin: string };
  /**
   * A DEL that failed: the netns is released and the record is retried only by a few
   * sweeps (attempts counts the DELs tried) and by `system prune`, which then drops it.
   */
  failed?: { error: string; at: string; attempts: number };
  created: string;
}

/** Attachment keys become file names: keep them to a safe alphabet. */
function fileName(networkName: string, containerId: string, ifName: string): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '_');
  return `${safe(networkName)}-${safe(containerId)}-${safe(ifName)}.json`;
}

export class AttachmentCache {
  constructor(readonly dir: string) {}

  path(networkName: string, containerId: string, ifName: string): string {
    return join(this.dir, fileName(networkName, containerId, ifName));
  }

  async write(entry: CachedAttachment): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.path(entry.networkName, entry.containerId, entry.ifName);
    await writeFileAtomic(path, JSON.stringify(entry, null, 1), { mode: 0o600, fsync: false }).catch((e) => {
      throw fromSystemError(e, path);
    });
  }

  async read(networkName: string, containerId: string, ifName: string): Promise<CachedAttachment | undefined> {
    const path = this.path(networkName, containerId, ifName);
    return parseEntry(path, await readFile(path, 'utf8').catch(() => undefined));
  }

  async remove(networkName: string, containerId: string, ifName: string): Promise<void> {
    await rm(this.path(networkName, containerId, ifName), { force: true });
  }

  /** Every cached attachment (unreadable files are skipped: a half-written temp, say). */
  async list(): Promise<CachedAttachment[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fromSystemError(e, this.dir);
    }
    const out: CachedAttachment[] = [];
    for (const n of names.filter((n) => n.endsWith('.json')).sort()) {
      const path = join(this.dir, n);
      const entry = parseEntry(path, await readFile(path, 'utf8').catch(() => undefined));
      if (entry) out.push(entry);
    }
    return out;
  }
}

function parseEntry(_path: string, text: string | undefined): CachedAttachment | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as CachedAttachment;
    return v.kind === 'berthCniCacheV1' ? v : undefined;
  } catch {
    return undefined;
  }
}
