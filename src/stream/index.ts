// The streaming server: exec, attach and port-forward sessions behind the URLs the CRI hands out.
export { StreamServer, type StreamServerOptions } from './server.js';
export type { StreamRuntime, StreamRequest, ExecStreamRequest, AttachStreamRequest, PortForwardStreamRequest, CommandStreams } from './types.js';
