// OCI runtime layer: the runtime-spec builder (config.json) and the runtime CLI driver.
export { buildSpec, cgroupLimits, DEFAULT_SHM_SIZE } from './spec.js';
export { checkMemoryLimit, validateSysctls } from './limits.js';
export { seccompFromProfile } from './seccomp-profile.js';
export type { SpecInput, ResourceLimits, DeviceRequest } from './spec.js';
export { processArgs, processEnv, mergeEnv, DEFAULT_PATH } from './process.js';
export { resolveUser } from './user.js';
export { resolveInRootfs } from './rootfs-path.js';
export type { ResolvedUser } from './user.js';
export { OciRuntime, errorMessage as runtimeErrorMessage } from './runtime.js';
export type { ContainerStatus, RuntimeState } from './runtime.js';
export { parseSignal, signalName } from './signals.js';
export { hostCapabilities, refreshHostCapabilities, DEFAULT_CAPABILITIES } from './capabilities.js';
export type {
  Mount, RuntimeSpec, ImageRuntimeConfig, Process, Linux, Namespace, Device, DeviceRule, Resources,
  Rlimit, Seccomp, SeccompRule, Capabilities, User,
} from './types.js';
