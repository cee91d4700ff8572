// The Kubernetes CRI (runtime.v1) over gRPC: one file per RPC, each translating its
// request into engine calls; server.ts puts them on a grpc-js server.
export { createCriServer, loadCriProto, type CriServer } from './server.js';
export type { CallContext, DaemonState } from './context.js';
