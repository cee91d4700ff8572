// Snapshots: tar reading/writing, layer decompression, safe layer application (on worker threads) and the overlay snapshotter.
export { readTar, TarWriter, TarParser, type TarEntry, type TarEntryType } from './tar.js';
export { decompressed, detectCompression, type Compression } from './compression.js';
export { applyLayer } from './apply.js';
export { LayerFile } from './worker.js';
export { Snapshotter } from './snapshotter.js';
export type { Change } from './diff.js';
export { RootView, type ViewMount } from './rootview.js';
export { packTree, type PackOptions } from './archive.js';
export { copyPath, copyToStream, copyFromStream, type CopyEnd, type CopyOptions } from './copy.js';
