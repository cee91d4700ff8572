// The engine: one composition root for the CLI and a daemon. createEngine() owns the path
// layout and builds every service once, lazily.
export { createEngine, type Engine, type EngineOptions, type RegistryOptions, type RegistrySession } from './engine.js';
export { enginePaths, type EnginePaths } from './paths.js';
