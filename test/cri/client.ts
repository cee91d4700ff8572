// A small CRI client for the tests: proto/api.proto through @grpc/proto-loader, every RPC
// as a promise (with an optional deadline), errors as grpc ServiceErrors with their code.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

function protoFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'proto', 'api.proto'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('proto/api.proto not found');
    dir = up;
  }
  return join(dir, 'proto', 'api.proto');
}

let pkg: any;
function criPackage(): any {
  pkg ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(protoFile(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }),
  ).runtime;
  return pkg.v1;
}

export type Call = (method: string, request?: object, o?: { timeoutMs?: number; signal?: AbortSignal }) => Promise<any>;

export interface CriClient {
  runtime: Call;
  image: Call;
  /** A server-streaming RuntimeService RPC: every message until the stream ends. */
  runtimeStream(method: string, request?: object): Promise<any[]>;
  /** A server-streaming RuntimeService RPC left open: its messages so far, cancel() to end it. */
  /** A server stream left open; opened resolves when the server has sent its headers (taken its place). */
  runtimeWatch(method: string, request?: object): { items: any[]; cancel(): void; opened: Promise<void>; ended: Promise<void> };
  close(): void;
}

export function criClient(socket: string): CriClient {
  const v1 = criPackage();
  const runtimeClient = new v1.RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());
  const imageClient = new v1.ImageService(`unix:${socket}`, grpc.credentials.createInsecure());
  const caller = (client: any): Call => (method, request = {}, o = {}) =>
    new Promise((resolve, reject) => {
      const options = o.timeoutMs !== undefined ? { deadline: new Date(Date.now() + o.timeoutMs) } : {};
      const call = client[method](request, options, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
      o.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  return {
    runtime: caller(runtimeClient),
    image: caller(imageClient),
    runtimeStream: (method, request = {}) =>
      new Promise((resolve, reject) => {
        const items: any[] = [];
        const stream = runtimeClient[method](request);
        stream.on('data', (d: unknown) => items.push(d));
        stream.on('error', reject);
        stream.on('end', () => resolve(items));
      }),
    runtimeWatch(method, request = {}) {
      const items: any[] = [];
      const stream = runtimeClient[method](request);
      stream.on('data', (d: unknown) => items.push(d));
      const opened = new Promise<void>((resolve, reject) => {
        stream.on('metadata', () => resolve());
        stream.on('error', reject);
      });
      opened.catch(() => undefined);
      const ended = new Promise<void>((resolve) => {
        stream.on('error', () => resolve());
        stream.on('end', () => resolve());
      });
      return { items, cancel: () => stream.cancel(), opened, ended };
    },
    close() {
      runtimeClient.close();
      imageClient.close();
    },
  };
}

/** Runs fn and returns the gRPC error it rejects with; fails when it resolves. */
export async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('expected a gRPC error, the call succeeded');
}

export const Status = grpc.status;
