// What `make demo` shows a new user, as a test: import, run --rm, a named container that
// exits, ps -a, logs, and removal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance } from '../helpers/index.js';

test('the demo: import, run --rm, a named container, ps -a, logs, rm', async (t) => {
  const berth = await newInstance(t);
  const image = await berth.importBusybox('busybox-demo');

  const hello = await berth.run(['run', '--rm', image, 'echo', 'Hello from berth']);
  assert.deepEqual(hello, { code: 0, stdout: 'Hello from berth\n', stderr: '' });
  assert.equal((await berth.run(['ps', '-a', '-q'])).stdout, '', '--rm left the container');

  const greet = await berth.run(['run', '--name', 'berth-demo', image, 'sh', '-c', 'echo "Hi, I am $(id -un)"; exit 3']);
  assert.deepEqual(greet, { code: 3, stdout: 'Hi, I am root\n', stderr: '' });

  const ps = await berth.run(['ps', '-a']);
  assert.equal(ps.code, 0, ps.stderr);
  const [header, row, ...rest] = ps.stdout.trimEnd().split('\n');
  assert.match(header, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  assert.match(row, /^[0-9a-f]{12}\s+.*busybox-demo.*Exited \(3\).*berth-demo$/);
  assert.deepEqual(rest, []);

  assert.deepEqual(await berth.run(['logs', 'berth-demo']), { code: 0, stdout: 'Hi, I am root\n', stderr: '' });

  const rm = await berth.run(['rm', 'berth-demo']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await berth.run(['ps', '-a', '-q'])).stdout, '');
  const again = await berth.run(['logs', 'berth-demo']);
  assert.equal(again.code, 125);
  assert.match(again.stderr, /^berth: no such container: berth-demo\n$/);
});
