// docker-py (python3-docker) against `berth system service`: a short script pulls an image
// from a registry on 127.0.0.1, runs a container detached, streams its logs, execs in it
// and removes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { newInstance } from '../helpers/index.js';
import { insecureConf, startRegistry } from '../registry/fixture.js';
import { DEBIAN_PYTHON, hasDockerPy, startService } from './harness.js';


const SCRIPT = `
import sys, docker
ref = sys.argv[1]
c = docker.DockerClient(base_url='unix://' + sys.argv[2], timeout=120)
img = c.images.pull(ref)
print('pulled', img.id)
ctr = c.containers.run(ref, ['sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.3; done; exec sleep 1000'], detach=True, name='py1', network_mode='none')
print('status', c.containers.get('py1').status)
got = []
for chunk in ctr.logs(stream=True, follow=True):
    got += chunk.decode().splitlines()
    if 'line3' in got:
        break
print('logs', ' '.join(got))
code, out = ctr.exec_run(['sh', '-c', 'echo exec $((6*7)); exit 4'])
print('exec', code, out.decode().strip())
ctr.remove(force=True)
print('left', [x.name for x in c.containers.list(all=True)])
`;

test('docker-py: pull, run detached, stream logs, exec, remove', { skip: !hasDockerPy() && 'no python3-docker on this machine' }, async (t) => {
  const inst = await newInstance();
  const reg = await startRegistry(t);
  const env = { ...inst.env, CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const image = await inst.importBusybox('localhost/busybox:latest');
  const ref = `${reg.host}/berth/py:1`;
  assert.equal((await inst.run(['push', image, ref], { env })).code, 0);
  assert.equal((await inst.run(['rmi', image])).code, 0, 'the pull has to fetch it');
  const svc = await startService(t, inst, env);
  t.after(() => inst.cleanup());
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(DEBIAN_PYTHON, ['-c', SCRIPT, ref, svc.socket], { env: { ...process.env, DOCKER_HOST: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  assert.equal(r.code, 0, `${r.stderr}\nservice log: ${svc.log()}`);
  const id = JSON.parse((await inst.run(['image', 'inspect', ref])).stdout)[0].Id;
  assert.equal(r.stdout, [`pulled ${id}`, 'status running', 'logs line1 line2 line3', 'exec 4 exec 42', 'left []', ''].join('\n'));
  assert.equal((await inst.run(['ps', '-aq'])).stdout, '', 'nothing left');
});
