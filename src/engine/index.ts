// The engine: one composition root for the CLI and a daemon. createEngine() owns the path
// layout and builds every service once, lazily.
export { createEngine, type Engine, type EngineOptions, type RegistryOptions, type RegistrySession } from './engine.js';
export { enginePaths, type EnginePaths } from './paths.js';

declare const BERTH_VERSION: string | undefined;
/** berth's version, the CLI's and the daemon's. */
export const version = typeof BERTH_VERSION === 'string' ? BERTH_VERSION : '0.1.0';
