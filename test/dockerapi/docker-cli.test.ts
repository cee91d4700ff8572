// The Docker Engine API (`berth system service`) driven by the real docker CLI (28,
// client only): the same containers as berth's own CLI, run/logs/exec/stop/rm, published
// ports, a pull from a registry on 127.0.0.1, and docker's error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { freePort, insecureConf, startRegistry } from '../registry/fixture.js';
import { hasDocker, httpGet, request, startService } from './harness.js';

test('the docker CLI against berth system service', { skip: !hasDocker() && 'no docker CLI on this machine' }, async (t) => {
  const inst = await newInstance();
  const reg = await startRegistry(t);
  const env = { ...inst.env, CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const image = await inst.importBusybox('localhost/busybox:latest');
  const svc = await startService(t, inst, env);
  // The instance goes after the service (after hooks run in the order they were added).
  t.after(() => inst.cleanup());
  const { docker, ok } = svc;

  await t.test('ping and version negotiation', async () => {
    assert.equal(statSync(svc.socket).mode & 0o777, 0o660);
    const ping = await request(svc.socket, 'HEAD', '/_ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.headers['api-version'], '1.43');
    assert.equal(ping.headers['ostype'], 'linux');
    assert.match(String(ping.headers['server']), /berth/);
    assert.equal((await request(svc.socket, 'GET', '/_ping')).body, 'OK');
    assert.equal((await ok(['version', '--format', '{{.Server.APIVersion}}'])).trim(), '1.43');
    assert.equal((await request(svc.socket, 'GET', '/v1.50/containers/json')).status, 200);
    const tooNew = await request(svc.socket, 'GET', '/v9.99/containers/json');
    assert.equal(tooNew.status, 400);
    assert.match(JSON.parse(tooNew.body).message, /too new/);
    // docker info: the host as docker describes it; no swarm.
    const info = (await ok(['info', '--format', '{{.Swarm.LocalNodeState}}|{{.OperatingSystem}}|{{.Driver}}|{{.Images}}|{{json .Plugins.Volume}}|{{.RuncCommit.ID}}'])).trim().split('|');
    assert.equal(info[0], 'inactive');
    assert.equal(info[1], /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))![1]);
    assert.deepEqual(info.slice(2, 5), ['overlay', '1', '["local"]']);
    assert.match(info[5]!, /^\d+\.\d+/, 'the runtime version');
    const missing = await request(svc.socket, 'GET', '/v1.41/swarm');
    assert.equal(missing.status, 501);
    assert.match(JSON.parse(missing.body).message, /not implemented/);
  });

  await t.test('run in the foreground: output, exit code, --rm', async () => {
    const r = await docker(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal((await inst.run(['ps', '-aq'])).stdout, '', 'the --rm container is gone');
  });

  await t.test('one store: docker and berth see the same containers; logs and inspect', async () => {
    const r = await docker(['run', '--name', 't1', '--network', 'none', image, 'sh', '-c', 'echo one; echo two >&2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match((await inst.run(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout, /^t1 Exited \(0\)/m);
    const logs = await docker(['logs', 't1']);
    assert.equal(logs.stdout, 'one\n');
    assert.equal(logs.stderr, 'two\n');
    assert.equal((await ok(['logs', '--tail', '0', 't1'])), '');
    assert.equal((await ok(['inspect', '-f', '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.Config.Image}}', 't1'])).trim(), `/t1 exited 0 ${image}`);
    assert.match(await ok(['ps', '-a', '--format', '{{.Names}}|{{.Image}}|{{.Status}}']), new RegExp(`^t1\\|${image}\\|Exited \\(0\\)`, 'm'));
    // The name is taken.
    const again = await docker(['create', '--name', 't1', '--network', 'none', image, 'true']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /Error response from daemon: .*"t1" is already in use/);
    // berth's removal shows in docker's listing.
    assert.equal((await inst.run(['rm', 't1'])).code, 0);
    assert.doesNotMatch(await ok(['ps', '-a', '--format', '{{.Names}}']), /^t1$/m);
    // --log-driver none: the output attached, no log to read.
    const quiet = await docker(['run', '--name', 'quiet', '--log-driver', 'none', '--network', 'none', image, 'echo', 'unlogged']);
    assert.deepEqual([quiet.code, quiet.stdout], [0, 'unlogged\n'], quiet.stderr);
    assert.equal(await ok(['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'quiet']), 'none\n');
    const noLogs = await docker(['logs', 'quiet']);
    assert.notEqual(noLogs.code, 0);
    assert.match(noLogs.stderr, /Error response from daemon: container quiet is using the 'none' log driver, cannot read logs/);
    assert.equal((await inst.run(['rm', 'quiet'])).code, 0);
  });

  await t.test('detached with a published port; exec; stop; rm; errors', async () => {
    const port = await freePort();
    const id = (await ok(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:8080`, image, 'sh', '-c', 'echo hi > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(await ok(['ps', '--format', '{{.Names}} {{.Ports}}']), new RegExp(`^web 127\\.0\\.0\\.1:${port}->8080/tcp$`, 'm'));
    let body = '';
    for (let i = 0; i < 50 && body !== 'hi\n'; i++) {
      body = await httpGet(port, '/index.html').catch(() => '');
      if (body !== 'hi\n') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(body, 'hi\n');
    const exec = await docker(['exec', 'web', 'sh', '-c', 'echo from-exec; exit 5']);
    assert.equal(exec.code, 5);
    assert.equal(exec.stdout, 'from-exec\n');
    assert.equal(await ok(['exec', '-i', 'web', 'cat'], { input: 'piped in\n' }), 'piped in\n');
    // A command that cannot start: docker's message on the stream, 127 (not found), 126 (not runnable).
    const notFound = await docker(['exec', 'web', 'nosuchcmd']);
    assert.equal(notFound.code, 127);
    assert.match(notFound.stdout, /^OCI runtime exec failed: .*"nosuchcmd": executable file not found in \$PATH/);
    const notRunnable = await docker(['exec', 'web', '/etc/passwd']);
    assert.equal(notRunnable.code, 126, notRunnable.stdout);
    assert.match(notRunnable.stdout, /permission denied/);
    // Under a real terminal (script's pty), the exec starts with the terminal's size.
    const underPty = (cmd: string) => spawnSync('script', ['-qec', `stty rows 33 cols 91; ${cmd}`, '/dev/null'], { env: svc.clientEnv, encoding: 'utf8', timeout: 60_000 });
    const it = underPty(`docker exec -it web sh -c 'stty size; tty'`);
    assert.equal(it.status, 0, it.stderr);
    assert.match(it.stdout, /33 91\r?\n/);
    assert.match(it.stdout, /\/dev\/pts\/\d+/);
    const runIt = underPty(`docker run -it --rm --network none ${image} sh -c 'tty; exit 7'`);
    assert.equal(runIt.status, 7, runIt.stderr);
    assert.match(runIt.stdout, /\/dev\/pts\/\d+/);
    const running = await docker(['rm', 'web']);
    assert.notEqual(running.code, 0);
    assert.match(running.stderr, /You cannot remove a running container/);
    assert.equal((await ok(['stop', '-t', '1', 'web'])).trim(), 'web');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'web'])).trim(), 'exited');
    const killStopped = await docker(['kill', 'web']);
    assert.notEqual(killStopped.code, 0);
    assert.match(killStopped.stderr, /is not running/);
    assert.equal((await ok(['rm', 'web'])).trim(), 'web');
    const gone = await docker(['rm', 'web']);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr.trim(), 'Error response from daemon: No such container: web');
    const noImage = await docker(['create', '--pull', 'never', 'localhost/nothing:here']);
    assert.notEqual(noImage.code, 0);
    assert.match(noImage.stderr, /No such image: localhost\/nothing:here/);
  });

  await t.test('a health check from docker run: ps shows it healthy, inspect its config; --no-healthcheck', async () => {
    await ok(['run', '-d', '--name', 'checked', '--network', 'none', '--health-cmd', 'test -d /proc', '--health-interval', '1s', '--health-retries', '2', image, 'sleep', '100']);
    let status = '';
    for (let i = 0; i < 100 && !status.includes('(healthy)'); i++) {
      status = (await ok(['ps', '--filter', 'name=checked', '--format', '{{.Status}}'])).trim();
      if (!status.includes('(healthy)')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(status, /^Up .* \(healthy\)$/);
    assert.equal((await ok(['inspect', '-f', '{{.State.Health.Status}} {{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}', 'checked'])).trim(), 'healthy ["CMD-SHELL","test -d /proc"] 1s 2');
    await ok(['run', '-d', '--name', 'unchecked', '--network', 'none', '--no-healthcheck', image, 'sleep', '100']);
    assert.equal((await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'unchecked'])).trim(), '{"Test":["NONE"]}');
    await ok(['rm', '-f', 'checked', 'unchecked']);
  });

  await t.test('detach keys: attach and run -it leave the container running; a second attach sees its output', async (t) => {
    /** A docker command under a real terminal (script's pty), typed into. */
    const terminal = (cmd: string) => {
      const child = spawn('script', ['-qfc', cmd, '/dev/null'], { env: svc.clientEnv, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      return {
        type: (keys: string) => child.stdin.write(keys),
        /** Waits for text in what the terminal showed since the last wait. */
        async sees(text: string, ms = 20_000) {
          for (const end = Date.now() + ms; !out.includes(text); await new Promise((r) => setTimeout(r, 50)))
            assert.ok(Date.now() < end, `${cmd}: never showed ${JSON.stringify(text)}: ${JSON.stringify(out)}`);
          out = out.slice(out.indexOf(text) + text.length);
        },
        async ends(ms = 20_000) {
          const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
          assert.notEqual(await Promise.race([exited, timer]), 'timeout', `${cmd} did not end: ${JSON.stringify(out)}`);
        },
      };
    };
    const running = async (name: string) => (await ok(['inspect', '-f', '{{.State.Status}}', name])).trim();
    // The shell computes what it prints: the terminal's echo of the command line does not count.
    const roundTrip = async (term: ReturnType<typeof terminal>, a: number, b: number) => {
      term.type(`echo $((${a}*${b}))\r`);
      await term.sees(`${a * b}\r\n`);
    };

    await ok(['run', '-dit', '--name', 'shell', '--network', 'none', image, 'sh']);
    // The default keys, ctrl-p ctrl-q.
    const first = terminal('docker attach shell');
    await roundTrip(first, 6, 7);
    first.type('\x10\x11');
    await first.ends();
    assert.equal(await running('shell'), 'running');
    // --detach-keys.
    const second = terminal('docker attach --detach-keys ctrl-x,x shell');
    await roundTrip(second, 7, 8);
    second.type('\x18x');
    await second.ends();
    assert.equal(await running('shell'), 'running');
    // A client that leaves detaching to the daemon (the keys go in the stream): the service
    // ends the session on them; the container runs on.
    const raw = createConnection(svc.socket);
    let got = '';
    raw.on('data', (d) => (got += d));
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.write('POST /v1.43/containers/shell/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x,x HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    for (let i = 0; !got.includes('\r\n\r\n'); i++) {
      assert.ok(i < 200, `no answer to the attach: ${got}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(got, /^HTTP\/1\.1 101 /);
    raw.write('echo $((3*4))\r');
    for (let i = 0; !got.includes('12\r\n'); i++) {
      assert.ok(i < 200, `no output on the raw attach: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    raw.write('\x18x');
    const ended = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 10_000).unref())]);
    assert.equal(ended, 'closed', 'the service ended the session on the detach keys');
    assert.equal(await running('shell'), 'running');
    const third = terminal('docker attach shell');
    await roundTrip(third, 9, 9);
    third.type('exit\r');
    await third.ends();
    assert.equal((await ok(['wait', 'shell'])).trim(), '0');

    // docker run -it, then ctrl-p ctrl-q: the container runs on, and is attached to again.
    const run = terminal(`docker run -it --name runit --network none ${image} sh`);
    await roundTrip(run, 5, 5);
    run.type('\x10\x11');
    await run.ends();
    assert.equal(await running('runit'), 'running');
    const again = terminal('docker attach runit');
    await roundTrip(again, 4, 4);
    again.type('\x10\x11');
    await again.ends();
    assert.equal(await running('runit'), 'running');
    await ok(['rm', '-f', 'shell', 'runit']);
  });

  await t.test('stop without -t waits the default and then kills (a PID 1 that ignores SIGTERM)', async () => {
    await ok(['run', '-d', '--name', 'sleeper', '--network', 'none', '--stop-timeout', '2', image, 'sleep', '1000']);
    const started = Date.now();
    await ok(['stop', 'sleeper']);
    const took = Date.now() - started;
    assert.ok(took >= 1500 && took < 20_000, `stop took ${took} ms`);
    assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'sleeper'])).trim(), '137');
    await ok(['rm', 'sleeper']);
  });

  await t.test('pull from a registry, images, rmi', async () => {
    const ref = `${reg.host}/berth/busybox:1`;
    assert.equal((await inst.run(['push', image, ref], { env })).code, 0);
    const pull = await docker(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /Digest: sha256:[0-9a-f]{64}/);
    assert.match(pull.stdout, new RegExp(`Status: (Downloaded newer image|Image is up to date) for ${ref.replace(/[.]/g, '\\.')}`));
    assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), new RegExp(`^${reg.host.replace(/[.]/g, '\\.')}/berth/busybox:1$`, 'm'));
    assert.match(await ok(['rmi', ref]), new RegExp(`Untagged: ${ref.replace(/[.]/g, '\\.')}`));
    const missing = await docker(['pull', `${reg.host}/berth/missing:1`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /missing/);
    const noSuch = await docker(['image', 'inspect', 'localhost/nothing:here']);
    assert.notEqual(noSuch.code, 0);
    assert.match(noSuch.stderr, /No such image/);
  });

  await t.test('the service ends on SIGTERM and removes its socket', async () => {
    svc.child.kill('SIGTERM');
    await new Promise((r) => svc.child.once('exit', r));
    assert.equal(svc.child.exitCode, 0, svc.log());
    assert.equal(existsSync(svc.socket), false);
  });
});

test('system service: the idle timeout ends it, a bad URI is refused', async (t) => {
  const inst = await newInstance(t);
  const socket = join(inst.base, 'idle.sock');
  const started = Date.now();
  const r = await inst.run(['system', 'service', '--time', '1', `unix://${socket}`], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - started >= 1000, 'it waited for a client');
  assert.equal(existsSync(socket), false, 'the socket is removed');
  const bad = await inst.run(['system', 'service', 'tcp://127.0.0.1:2375']);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr.trim(), 'berth: unsupported URI "tcp://127.0.0.1:2375": use unix:///PATH');
  const badTime = await inst.run(['system', 'service', '--time', 'soon', `unix://${socket}`]);
  assert.equal(badTime.code, 125);
});
