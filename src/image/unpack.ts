// Layers → snapshots, and the bookkeeping that lets a failed import or load leave nothing
// behind (the blobs and snapshots it created are removed unless an image references them).
import type { Readable } from 'node:stream';
import { sha256Digest, type ContentStore, type Descriptor, type StagedBlob } from '../content/index.js';
import { notFound } from '../errors/index.js';
import { log } from '../log/index.js';
import { LayerFile } from '../snapshot/index.js';
import type { ImageRecords } from './records.js';

/** The part of the snapshotter (src/snapshot) the image store uses. */
export interface LayerSnapshots {
  has(chainId: string): boolean;
  /**
   * open() yields the layer as stored (plain or compressed; a stream, or a file the
   * snapshot worker reads itself); verify: it must unpack to
   * diffId. onWait: another process unpacks it, and this call waits (bounded: it gives up
   * when that process stalls).
   */
  ensure(
    chainId: string,
    parent: string | null,
    diffId: string,
    open: () => Promise<Readable | LayerFile>,
    opts?: { signal?: AbortSignal; verify?: boolean; onWait?: (pid: number) => void },
  ): Promise<void>;
  /** Removes snapshots in one write (see Snapshotter.removeAll); returns those that stayed, with why. */
  removeAll(chainIds: string[], until: 'blocked' | 'done'): Promise<Map<string, unknown>>;
  list(): { chainId: string; parent: string | null; size: number }[];
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256Digest(`${out[out.length - 1]} ${d}`));
  return out;
}

/** What one operation created; cleanup() removes whatever no recorded image references. */
export class Leftovers {
  private readonly blobs: string[] = [];
  private readonly snapshots: string[] = [];

  constructor(
    private readonly content: ContentStore,
    private readonly snapshotter: LayerSnapshots,
    private readonly records: ImageRecords,
  ) {}

  async commit(staged: StagedBlob, expected?: Partial<Descriptor>): Promise<Descriptor> {
    const existed = this.content.has(staged.digest);
    const d = await staged.commit(expected);
    if (!existed) this.blobs.push(d.digest);
    return d;
  }

  async putBytes(buf: Buffer): Promise<Descriptor> {
    const existed = this.content.has(sha256Digest(buf));
    const d = await this.content.putBytes(buf);
    if (!existed) this.blobs.push(d.digest);
    return d;
  }

  createdSnapshot(chainId: string): void {
    this.snapshots.push(chainId);
  }

  async cleanup(): Promise<void> {
    const refs = this.records.references();
    // Layers unpack in parallel, so a child may have been made before its parent: remove
    // in rounds until nothing more goes (a child blocks its parent's removal).
    const errors = await this.snapshotter.removeAll([...this.snapshots].reverse().filter((id) => !refs.chainIds.has(id)), 'done');
    for (const [chainId, e] of errors) log.warn('could not remove snapshot after a failed operation', { chainId, error: String(e) });
    await Promise.all([...this.blobs].filter((d) => !refs.blobs.has(d)).map((d) => this.content.delete(d)));
  }
}

/**
 * Makes sure each layer is unpacked into its snapshot, verifying that the uncompressed
 * stream hashes to the layer's diffID. Returns the chain IDs.
 */
export async function unpackLayers(
  content: ContentStore,
  snapshots: LayerSnapshots,
  layers: { digest: string; diffId: string }[],
  leftovers: Leftovers,
  signal?: AbortSignal,
): Promise<string[]> {
  const chains = chainIds(layers.map((l) => l.diffId));
  for (let i = 0; i < layers.length; i++) {
    const { digest, diffId } = layers[i];
    const chainId = chains[i];
    if (snapshots.has(chainId)) continue;
    let opened = false;
    await snapshots.ensure(chainId, i === 0 ? null : chains[i - 1], diffId, async () => {
      opened = true;
      return storedLayer(content, digest);
    }, { signal, verify: digest !== diffId }); // an uncompressed blob's digest is its diffID, verified when it was stored
    if (opened) leftovers.createdSnapshot(chainId); // else another process unpacked it meanwhile
  }
  return chains;
}

/** A stored layer blob, open for the snapshot worker to read. */
export function storedLayer(content: ContentStore, digest: string): LayerFile {
  try {
    return LayerFile.open(content.path(digest));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`blob not found: ${digest}`);
    throw e;
  }
}

/** Unpacked bytes of a chain, from the snapshotter's records. */
export function chainSize(snapshots: LayerSnapshots, chain: string[]): number {
  const want = new Set(chain);
  return snapshots.list().reduce((sum, s) => (want.has(s.chainId) ? sum + s.size : sum), 0);
}
