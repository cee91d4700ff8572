// The Kubernetes remote-command protocols over SPDY/3.1, server side (kubectl exec/attach
// through the kubelet's proxy). The client opens one stream per stdio with a "streamtype"
// header (error, stdin, stdout, stderr, resize); the server accepts each, runs the command
// once all it expects are there, writes how it ended on the error stream and closes.
// v4 sends that as a JSON Status; v2 and v3 send only a failure, as text; v3 adds resize.
import { log } from '../log/index.js';
import { resizeEvents, runCommand } from './remote-command.js';
import type { SpdySession, SpdyStream } from './spdy/index.js';
import { statusBytes } from './status.js';
import type { CommandRequest, StreamRuntime } from './types.js';

/** Served remote-command versions over SPDY, most preferred first. */
export const SPDY_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** How long the client has to open the streams it asked for (the kubelet's default). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** The streams a request expects, as the protocol version has them. */
function expectedStreams(req: CommandRequest, protocol: string): StreamType[] {
  const resize = protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io';
  return [
    'error',
    ...(req.stdin ? ['stdin' as const] : []),
    ...(req.stdout ? ['stdout' as const] : []),
    ...(req.stderr && !req.tty ? ['stderr' as const] : []),
    ...(req.tty && resize ? ['resize' as const] : []),
  ];
}

/** Collects the session's streams by type until every expected one is there. */
function awaitStreams(session: SpdySession, expected: StreamType[], timeoutMs: number): Promise<Map<StreamType, SpdyStream>> {
  return new Promise((resolve, reject) => {
    const got = new Map<StreamType, SpdyStream>();
    const done = (err?: Error) => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
      if (err) reject(err);
      else resolve(got);
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for the client to open its streams (${expected.join(', ')})`)), timeoutMs);
    const onClose = () => done(new Error('the client went away before opening its streams'));
    const onStream = (s: SpdyStream) => {
      s.on('error', (e) => log.debug('spdy stream error', { error: e.message }));
      const type = s.headers.streamtype as StreamType;
      if (!expected.includes(type) || got.has(type)) {
        s.reset();
        return;
      }
      s.reply();
      got.set(type, s);
      if (got.size === expected.length) done();
    };
    session.on('stream', onStream);
    session.on('close', onClose);
  });
}

/** Complete JSON objects from a byte stream of them (the resize stream carries one per size). */
function jsonObjects(onObject: (text: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    for (;;) {
      const start = buf.indexOf('{');
      const end = buf.indexOf('}', start);
      if (start < 0 || end < 0) {
        if (buf.length > 4096) buf = '';
        return;
      }
      onObject(buf.slice(start, end + 1));
      buf = buf.slice(end + 1);
    }
  };
}

/** Serves one exec or attach on an upgraded SPDY session; closes it at the end. */
export async function serveCommandSpdy(session: SpdySession, protocol: string, runtime: StreamRuntime, req: CommandRequest, o: { streamTimeoutMs?: number } = {}): Promise<void> {
  const abort = new AbortController();
  session.once('close', () => abort.abort());
  let streams: Map<StreamType, SpdyStream>;
  try {
    streams = await awaitStreams(session, expectedStreams(req, protocol), o.streamTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS);
  } catch (e) {
    log.info('streaming session not started', { error: (e as Error).message });
    session.close();
    return;
  }
  const resize = resizeEvents();
  const resizeStream = streams.get('resize');
  resizeStream?.on('data', jsonObjects((text) => resize.push(text)));
  // stdin is the stream itself: its end is the client's half-close.
  const stdin = streams.get('stdin');
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  const outcome = await runCommand(runtime, req, { stdin, stdout, stderr, resize: resize.emitter }, abort.signal);
  if (abort.signal.aborted) return;
  await Promise.all([stdout, stderr].map((w) => w && new Promise<void>((resolve) => w.end(resolve))));
  const status = statusBytes(outcome, req.kind === 'exec' ? req.cmd : [], protocol === 'v4.channel.k8s.io');
  const error = streams.get('error')!;
  await new Promise<void>((resolve) => (status ? error.end(status, resolve) : error.end(resolve)));
  session.goAway();
}
