// Pods: sandboxes of namespaces that containers share, for the CRI.
//
// Glossary
//   pod       pinned network, IPC and UTS namespaces (bind mounts, no process), the pod's
//             network attachments and the hosts/resolv.conf/hostname files its containers
//             bind-mount. Its containers are ordinary containers whose spec joins these
//             (PodManager.joinSpec) and whose row names the pod.
//   run       row ('creating', owned by the creator's pid + start time) → namespaces →
//             network → files → 'ready'.
//   stop      the pod's containers stopped, the network down → 'notready'.
//   remove    'removing' (owned likewise) → containers removed → network → namespaces →
//             files → row gone. A creation or removal whose process died is finished by
//             the next look.
export { PodManager, type PodManagerDeps, type PodDirs, type PodPaths, type PodStats } from './manager.js';
export { PodRecords } from './records.js';
export type { PodSpec } from './spec.js';
export type { Pod, PodState } from './types.js';
