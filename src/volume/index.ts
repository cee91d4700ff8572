// Volumes: named and anonymous directories under the store root that outlive containers.
//   named      made by `volume create` or on first use by `-v NAME:/path`; kept until `volume rm`.
//   anonymous  made for one container (`-v /path`, the image's VOLUME); removed with it by
//              `rm -v` and `--rm`.
//   copy-up    a new volume gets the image's content at its mount point on first use.
export { VolumeStore, type CreateVolumeOptions } from './store.js';
export type { Volume, VolumeState, VolumeUsers } from './types.js';
