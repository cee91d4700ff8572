// Runs after the whole suite (make test): fails if any test left a mount, a process, a
// runc state dir, a container cgroup, a bridge, veth or iptables rule of a test network,
// or a temp dir behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLeaks } from './helpers/index.js';

test('the test suite left nothing behind', () => {
  const leaks = findLeaks();
  assert.equal(leaks.length, 0, `left behind by tests:\n  ${leaks.join('\n  ')}`);
});
