// What the streaming server serves and what it needs from the engine: the requests that a
// CRI Exec, Attach or PortForward call leaves behind a token, and the runtime that runs them.
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';

export interface ExecStreamRequest {
  kind: 'exec';
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachStreamRequest {
  kind: 'attach';
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface PortForwardStreamRequest {
  kind: 'portforward';
  podId: string;
  /** The ports the CRI request named; a WebSocket client names its own in the URL. */
  ports: number[];
}

export type StreamRequest = ExecStreamRequest | AttachStreamRequest | PortForwardStreamRequest;
export type CommandRequest = ExecStreamRequest | AttachStreamRequest;

/** A session's stdio as the transport delivers it. */
export interface CommandStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Emits 'resize' with { rows, cols } for TTY sessions. */
  resize: EventEmitter;
}

/** What the server asks of the engine. */
export interface StreamRuntime {
  /** Runs cmd in the container with these streams; resolves with its exit code. The signal kills it. */
  exec(req: ExecStreamRequest, streams: CommandStreams, signal: AbortSignal): Promise<number>;
  /** Connects the streams to the container's; resolves when its output ends. The signal detaches. */
  attach(req: AttachStreamRequest, streams: CommandStreams, signal: AbortSignal): Promise<void>;
  /** Where the pod's ports are: its network namespace (none for a host-network pod). NotFound for no such pod. */
  podNetwork(podId: string): Promise<{ netnsPath?: string }>;
}
