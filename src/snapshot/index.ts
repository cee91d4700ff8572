// Snapshots: tar reading/writing, safe layer application and the overlay snapshotter.
export { readTar, TarWriter, TarParser, type TarEntry, type TarEntryType } from './tar.js';
