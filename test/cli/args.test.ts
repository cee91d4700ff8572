// The CLI's flag parser: long and short flags, bundles, values, `--`, the first-positional
// stop of run/exec, and its errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, type FlagDef } from '../../src/cli/args.js';

const defs: FlagDef[] = [
  { name: 'detach', short: 'd', type: 'bool', desc: '' },
  { name: 'interactive', short: 'i', type: 'bool', desc: '' },
  { name: 'tty', short: 't', type: 'bool', desc: '' },
  { name: 'tls-verify', type: 'bool', default: true, desc: '' },
  { name: 'name', type: 'string', desc: '' },
  { name: 'publish', short: 'p', type: 'strings', desc: '' },
  { name: 'env', short: 'e', type: 'strings', desc: '' },
  { name: 'time', short: 'n', type: 'int', desc: '' },
  { name: 'format', short: 'f', type: 'string', default: 'table', desc: '' },
];
const invalid = (message: RegExp) => ({ code: 'InvalidArgument', message });

test('long flags: --flag value, --flag=value, booleans, repeats, defaults', () => {
  assert.deepEqual(parseArgs([], defs), { flags: { 'tls-verify': true, format: 'table' }, args: [] });
  const p = parseArgs(['--name', 'web', '--detach', '--publish=80:80', '--publish', '443', '--time=-3', '--tls-verify=false', 'img'], defs);
  assert.deepEqual(p.flags, { 'tls-verify': false, format: 'table', name: 'web', detach: true, publish: ['80:80', '443'], time: -3 });
  assert.deepEqual(p.args, ['img']);
  assert.equal(parseArgs(['--detach=true'], defs).flags.detach, true);
  // A string flag takes the next word even when it looks like a flag; an empty value is a value.
  assert.equal(parseArgs(['--name', '--detach'], defs).flags.name, '--detach');
  assert.equal(parseArgs(['--name='], defs).flags.name, '');
  assert.equal(parseArgs(['--format', '{{.ID}}'], defs).flags.format, '{{.ID}}');
});

test('short flags: bundles, attached values, = forms', () => {
  assert.deepEqual(parseArgs(['-dit', 'img'], defs).flags, { 'tls-verify': true, format: 'table', detach: true, interactive: true, tty: true });
  assert.deepEqual(parseArgs(['-p', '80', '-p8080:80', '-p=9:9'], defs).flags.publish, ['80', '8080:80', '9:9']);
  // In a bundle, the first flag that takes a value takes the rest of the word, or the next word.
  assert.deepEqual(parseArgs(['-itp80'], defs).flags.publish, ['80']);
  const q = parseArgs(['-ie', 'A=1', 'img'], defs);
  assert.deepEqual([q.flags.interactive, q.flags.env, q.args], [true, ['A=1'], ['img']]);
  assert.deepEqual(parseArgs(['-e=A=B=C'], defs).flags.env, ['A=B=C']);
  assert.equal(parseArgs(['-d=false'], defs).flags.detach, false);
  assert.equal(parseArgs(['-n', '10'], defs).flags.time, 10);
  // A lone "-" is a positional (stdin, by convention).
  assert.deepEqual(parseArgs(['-', '-d'], defs).args, ['-']);
});

test('"--" and the first-positional stop hand the rest over untouched', () => {
  assert.deepEqual(parseArgs(['-d', '--', '--name', 'x', '-it'], defs), { flags: { 'tls-verify': true, format: 'table', detach: true }, args: ['--name', 'x', '-it'] });
  // run IMAGE CMD...: flags after the image belong to the container.
  const run = parseArgs(['-d', '--name', 'c', 'img', 'sh', '-c', 'echo --name', '--detach'], defs, 1);
  assert.deepEqual(run.flags, { 'tls-verify': true, format: 'table', detach: true, name: 'c' });
  assert.deepEqual(run.args, ['img', 'sh', '-c', 'echo --name', '--detach']);
  // Without the stop, flags may follow positionals.
  assert.deepEqual(parseArgs(['a', '-d', 'b'], defs), { flags: { 'tls-verify': true, format: 'table', detach: true }, args: ['a', 'b'] });
  assert.deepEqual(parseArgs(['a', '--', '-d'], defs, 2).args, ['a', '-d']);
});

test('errors: unknown flags, missing and malformed values', () => {
  assert.throws(() => parseArgs(['--nope'], defs), invalid(/^unknown flag: --nope$/));
  assert.throws(() => parseArgs(['--nope=1'], defs), invalid(/^unknown flag: --nope$/));
  assert.throws(() => parseArgs(['-dz'], defs), invalid(/^unknown shorthand flag: 'z' in -dz$/));
  assert.throws(() => parseArgs(['--name'], defs), invalid(/^flag needs an argument: --name$/));
  assert.throws(() => parseArgs(['-p'], defs), invalid(/^flag needs an argument: 'p' in -p$/));
  assert.throws(() => parseArgs(['--detach=yes'], defs), invalid(/invalid value "yes" for flag --detach: expected true or false/));
  assert.throws(() => parseArgs(['-n', '1.5'], defs), invalid(/invalid value "1.5" for flag -n: expected an integer/));
  assert.throws(() => parseArgs(['--time=x'], defs), invalid(/invalid value "x" for flag --time/));
  // Flags of the container are not checked once the stop is reached.
  assert.doesNotThrow(() => parseArgs(['img', '--nope'], defs, 1));
});
