// The CRI services on a gRPC server: proto/api.proto loaded at start, one handler per RPC
// (the files beside this one), every call given an AbortSignal that fires on its deadline
// or cancellation, typed errors mapped to gRPC statuses through src/errors' table, and
// the RPCs berth does not serve yet answered UNIMPLEMENTED by name.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { findInstalled } from '../config/index.js';
import { BerthError, cancelled, grpcStatusOf, GrpcStatus, isBerthError } from '../errors/index.js';
import { log } from '../log/index.js';
import type { CallContext } from './context.js';
import { containerStats } from './container-stats.js';
import { containerStatus } from './container-status.js';
import { createContainer } from './create-container.js';
import { attach } from './attach.js';
import { exec } from './exec.js';
import { portForward } from './port-forward.js';
import { execSync } from './exec-sync.js';
import { getContainerEvents } from './get-container-events.js';
import { imageFsInfo } from './image-fs-info.js';
import { imageStatus } from './image-status.js';
import { listContainerStats } from './list-container-stats.js';
import { listContainers } from './list-containers.js';
import { listImages } from './list-images.js';
import { listPodSandbox } from './list-pod-sandbox.js';
import { listPodSandboxStats } from './list-pod-sandbox-stats.js';
import { podSandboxStats } from './pod-sandbox-stats.js';
import { podSandboxStatus } from './pod-sandbox-status.js';
import { pullImage } from './pull-image.js';
import { removeContainer } from './remove-container.js';
import { reopenContainerLog } from './reopen-container-log.js';
import { removeImage } from './remove-image.js';
import { removePodSandbox } from './remove-pod-sandbox.js';
import { runPodSandbox } from './run-pod-sandbox.js';
import { runtimeConfig } from './runtime-config.js';
import { startContainer } from './start-container.js';
import { status } from './status.js';
import { stopContainer } from './stop-container.js';
import { stopPodSandbox } from './stop-pod-sandbox.js';
import { updateContainerResources } from './update-container-resources.js';
import { updateRuntimeConfig } from './update-runtime-config.js';
import { versionRpc } from './version.js';

/** A cancellation this close to the call's deadline counts as the deadline passing. */
const DEADLINE_SLACK_MS = 1000;

type Handler = (ctx: CallContext, req: any) => Promise<unknown>;
/**
 * A server-streaming RPC: sends messages until it resolves (or the call's signal aborts it).
 * It calls opened() once it has taken its place (a watch, where it starts reading): the
 * client gets the response headers then, so it knows nothing after that point is missed.
 */
type StreamHandler = (ctx: CallContext, req: any, send: (msg: object) => void, opened: () => void) => Promise<void>;

const runtimeRpcs: Record<string, Handler> = {
  Version: versionRpc,
  Status: status,
  RuntimeConfig: runtimeConfig,
  UpdateRuntimeConfig: updateRuntimeConfig,
  RunPodSandbox: runPodSandbox,
  StopPodSandbox: stopPodSandbox,
  RemovePodSandbox: removePodSandbox,
  PodSandboxStatus: podSandboxStatus,
  ListPodSandbox: listPodSandbox,
  CreateContainer: createContainer,
  StartContainer: startContainer,
  StopContainer: stopContainer,
  RemoveContainer: removeContainer,
  ListContainers: listContainers,
  ContainerStatus: containerStatus,
  ExecSync: execSync,
  Exec: exec,
  Attach: attach,
  PortForward: portForward,
  ContainerStats: containerStats,
  ListContainerStats: listContainerStats,
  ReopenContainerLog: reopenContainerLog,
  UpdateContainerResources: updateContainerResources,
  PodSandboxStats: podSandboxStats,
  ListPodSandboxStats: listPodSandboxStats,
};

const runtimeStreams: Record<string, StreamHandler> = {
  GetContainerEvents: getContainerEvents,
};

const imageRpcs: Record<string, Handler> = {
  ListImages: listImages,
  ImageStatus: imageStatus,
  PullImage: pullImage,
  RemoveImage: removeImage,
  ImageFsInfo: imageFsInfo,
};

/** RPCs that stay unimplemented by design, with the reason given to the caller. */
const notPlanned: Record<string, string> = {
  CheckpointContainer: 'berth does not checkpoint containers',
};

/** proto/api.proto, found from src/, out/src/ or the bundle in build/. */
export function loadCriProto(): grpc.GrpcObject {
  const definition = protoLoader.loadSync(findInstalled('proto/api.proto'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

export interface CriServer {
  server: grpc.Server;
  /** Resolves when every call in flight has finished. */
  drain(): Promise<void>;
  /** Calls in flight now. */
  inFlight(): number;
  /** Ends every open server stream (event watches): for shutdown. */
  endStreams(): void;
}

/** A gRPC server with RuntimeService and ImageService; ctx(signal) makes each call's context. */
export function createCriServer(ctx: (signal: AbortSignal) => CallContext): CriServer {
  const proto = loadCriProto() as any;
  const runtimeService = proto.runtime.v1.RuntimeService.service as grpc.ServiceDefinition;
  const imageService = proto.runtime.v1.ImageService.service as grpc.ServiceDefinition;
  const calls = new Set<Promise<unknown>>();
  const openStreams = new Set<AbortController>();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 32 << 20 });
  const wire = (serviceName: string, service: grpc.ServiceDefinition, rpcs: Record<string, Handler>, streams: Record<string, StreamHandler> = {}) => {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(service)) {
      const rpc = rpcs[name];
      const stream = streams[name];
      if (rpc) impl[name] = unary(`${serviceName}/${name}`, rpc, ctx, calls);
      else if (stream && method.responseStream) impl[name] = serverStream(`${serviceName}/${name}`, stream, ctx, openStreams);
      else impl[name] = unimplemented(`${serviceName}/${name}`, notPlanned[name], method.responseStream);
    }
    server.addService(service, impl);
  };
  wire('RuntimeService', runtimeService, runtimeRpcs, runtimeStreams);
  wire('ImageService', imageService, imageRpcs);
  return {
    server,
    inFlight: () => calls.size,
    endStreams: () => {
      for (const a of openStreams) a.abort(cancelled('berthd is shutting down'));
    },
    async drain() {
      while (calls.size > 0) await Promise.allSettled([...calls]);
    },
  };
}

function unary(method: string, rpc: Handler, makeCtx: (signal: AbortSignal) => CallContext, calls: Set<Promise<unknown>>): grpc.handleUnaryCall<any, any> {
  return (call, callback) => {
    const abort = new AbortController();
    const deadline = deadlineMs(call.getDeadline());
    const expire = () => abort.abort(new BerthError('DeadlineExceeded', `${method}: deadline exceeded`));
    const timer = deadline === undefined ? undefined : setTimeout(expire, Math.max(0, deadline - Date.now()));
    // The client's own deadline timer usually fires first (the server's deadline is the
    // timeout counted from the request's arrival) and cancels the call: near the
    // deadline, that cancellation is the deadline.
    call.on('cancelled', () => {
      if (deadline !== undefined && deadline - Date.now() < DEADLINE_SLACK_MS) expire();
      else abort.abort(cancelled(`${method}: cancelled by the client`));
    });
    const started = Date.now();
    const done = (async () => rpc(makeCtx(abort.signal), call.request))().then(
      (res) => {
        log.debug('rpc', { method, ms: Date.now() - started });
        callback(null, res);
      },
      (e: unknown) => {
        const err = abort.signal.aborted && !isBerthError(e) ? abort.signal.reason : e;
        const code = grpcStatusOf(err);
        const details = err instanceof Error ? err.message : String(err);
        if (code === GrpcStatus.UNKNOWN || code === GrpcStatus.INTERNAL) log.error('rpc failed', { method, error: details, stack: (err as Error)?.stack });
        else log.debug('rpc failed', { method, code, error: details });
        callback({ code, details } as grpc.ServiceError);
      },
    );
    calls.add(done);
    done.finally(() => {
      clearTimeout(timer);
      calls.delete(done);
    });
  };
}

/**
 * A server stream: the handler sends until it returns or the client goes away (its signal
 * aborts). Not counted as in flight: a watch never finishes by itself, so shutdown ends it.
 */
function serverStream(method: string, rpc: StreamHandler, makeCtx: (signal: AbortSignal) => CallContext, open: Set<AbortController>): grpc.handleServerStreamingCall<any, any> {
  return (call) => {
    const abort = new AbortController();
    open.add(abort);
    call.on('cancelled', () => abort.abort(cancelled(`${method}: cancelled by the client`)));
    call.on('error', (e) => log.debug('stream error', { method, error: e.message }));
    let headersSent = false;
    const opened = () => {
      if (!headersSent) call.sendMetadata(new grpc.Metadata());
      headersSent = true;
    };
    (async () => rpc(makeCtx(abort.signal), call.request, (msg) => (opened(), call.write(msg)), opened))()
      .then(
        () => call.end(),
        (e: unknown) => {
          if (abort.signal.aborted) return call.end();
          const details = e instanceof Error ? e.message : String(e);
          log.error('stream failed', { method, error: details });
          call.destroy(Object.assign(new Error(details), { code: grpcStatusOf(e), details }));
        },
      )
      .finally(() => open.delete(abort));
  };
}

function unimplemented(method: string, reason: string | undefined, streaming: boolean): grpc.UntypedHandleCall {
  const details = reason ? `${method}: ${reason}` : `${method} is not implemented by berth yet`;
  const status = { code: GrpcStatus.UNIMPLEMENTED, details } as grpc.ServiceError;
  if (streaming) return ((call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', status)) as grpc.UntypedHandleCall;
  return ((_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(status)) as grpc.UntypedHandleCall;
}

function deadlineMs(d: grpc.Deadline): number | undefined {
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}
