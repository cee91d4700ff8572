export { ContainerManager, type ManagerDeps, type ContainerDirs, type ExecRequest, type LogOptions, type ContainerPaths } from './manager.js';
export type { Container, ContainerConfig, ContainerState, BindMount, TmpfsMount } from './types.js';
export { statusWord } from './types.js';
export { CommandExitError } from './exit-codes.js';
export { mergeEnv } from './process.js';
