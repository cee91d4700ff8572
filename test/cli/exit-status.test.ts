// The CLI's exit status (README, "Exit status"): 125 for berth's own errors, whatever their
// kind; 126 when the container's command cannot be invoked, 127 when it is not found;
// otherwise the container's own code. The message is one line on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance } from '../helpers/index.js';

test("berth's own errors exit 125 with one line, whatever their kind", async (t) => {
  const berth = await newInstance(t);
  const cases: [string[], RegExp][] = [
    [['nosuch'], /^berth: unknown command "nosuch" for "berth"; run 'berth --help'\n$/],
    [['image', 'nosuch'], /^berth: unknown command "nosuch" for "berth image"\n$/],
    [['ps', 'extra'], /^berth: "berth ps" accepts at most 0 arguments; usage: berth ps \[OPTIONS\]\n$/],
    [['rename', 'a'], /^berth: "berth rename" requires at least 2 arguments/],
    [['--log-level', 'loud', 'ps'], /^berth: invalid log level "loud"/],
    [['ps', '--no-such-flag'], /^berth: .*no-such-flag/],
    [['logs', 'nosuch'], /^berth: no such container: nosuch\n$/],
    [['image', 'inspect', 'nosuch'], /^berth: no such image: nosuch\n$/],
  ];
  for (const [args, stderr] of cases) {
    const r = await berth.run(args);
    assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, args.join(' '));
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  }
  // rmi goes on past an image it cannot remove; a missing one is exit 1 (podman's status).
  const rmi = await berth.run(['rmi', 'nosuch']);
  assert.deepEqual([rmi.code, rmi.stderr], [1, 'berth: no such image: nosuch\n']);
  const bare = await berth.run([]);
  assert.equal(bare.code, 125, 'no command: help, and 125');
  assert.match(bare.stdout, /^Usage: berth \[OPTIONS\] COMMAND/);
  assert.equal((await berth.run(['help'])).code, 0);
  assert.equal((await berth.run(['ps', '--help'])).code, 0);
});

test("the container's command: 127 not found, 126 cannot be invoked, else its own code", async (t) => {
  const berth = await newInstance(t);
  const image = await berth.importBusybox();
  const notFound = await berth.run(['run', '--rm', image, 'nosuchcmd']);
  assert.equal(notFound.code, 127, notFound.stderr);
  assert.match(notFound.stderr, /^berth: .*"nosuchcmd": executable file not found in \$PATH\n$/);
  const notExecutable = await berth.run(['run', '--rm', image, '/etc/passwd']);
  assert.equal(notExecutable.code, 126, notExecutable.stderr);
  assert.match(notExecutable.stderr, /^berth: .*"\/etc\/passwd": permission denied\n$/);
  assert.deepEqual(await berth.run(['run', '--rm', image, 'sh', '-c', 'exit 42']), { code: 42, stdout: '', stderr: '' });
  assert.equal((await berth.run(['ps', '-aq'])).stdout, '', '--rm left a container behind');

  assert.equal((await berth.run(['run', '-d', '--name', 'box', image, 'sleep', '60'])).code, 0);
  assert.equal((await berth.run(['exec', 'box', 'nosuch'])).code, 127);
  assert.equal((await berth.run(['exec', 'box', '/etc'])).code, 126);
  assert.equal((await berth.run(['exec', 'box', 'sh', '-c', 'exit 7'])).code, 7);
  const rm = await berth.run(['rm', '-f', 'box']);
  assert.equal(rm.code, 0, rm.stderr);
});
