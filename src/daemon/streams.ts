// The streaming server's view of the engine: exec and attach through conmon (the same calls
// as `berth exec` and `berth attach`), and where a pod's ports are.
import { Writable } from 'node:stream';
import type { Engine } from '../engine/index.js';
import { failedPrecondition } from '../errors/index.js';
import type { StreamRuntime } from '../stream/index.js';

/** Output nobody asked for (e.g. stderr of an exec without it). */
const discard = () => new Writable({ write: (_c, _e, done) => done() });

export function streamRuntime(engine: Engine): StreamRuntime {
  return {
    async exec(req, s, signal) {
      const mgr = await engine.containers();
      const r = await mgr.exec(
        req.containerId,
        { command: req.cmd, tty: req.tty, stdin: req.stdin },
        // kubectl has no detach keys: every byte of stdin is the process's.
        { stdin: s.stdin, stdout: s.stdout ?? discard(), stderr: s.stderr ?? discard(), resize: s.resize, detachKeys: '' },
        { signal },
      );
      return r.exitCode ?? -1;
    },
    async attach(req, s, signal) {
      const mgr = await engine.containers();
      const session = await mgr.attach(req.containerId, { stdin: s.stdin, stdout: s.stdout ?? discard(), stderr: s.stderr ?? discard(), resize: s.resize, detachKeys: '', signal });
      await session.done;
    },
    async podNetwork(podId) {
      const pods = await engine.pods();
      const pod = await pods.get(podId);
      if (pod.state !== 'ready') throw failedPrecondition(`pod ${pod.id} is not ready (${pod.state})`);
      return { netnsPath: pods.paths(pod).netns };
    },
  };
}
