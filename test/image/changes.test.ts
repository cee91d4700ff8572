import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges } from '../../src/image/index.js';
import { isBerthError } from '../../src/errors/index.js';

test('--change instructions in JSON and shell form', () => {
  const c = applyChanges({ Env: ['PATH=/bin', 'A=old'] }, [
    'CMD ["/bin/sh", "-c", "echo hi"]',
    'ENTRYPOINT /entry.sh --flag',
    'ENV A=new B="two words"',
    'ENV C 3 4',
    'WORKDIR /srv',
    'USER 1000:1000',
    'LABEL org.example.a=1 "b c"=d',
    'EXPOSE 80 53/udp 8000-8001',
    'STOPSIGNAL SIGINT',
    'VOLUME ["/data", "/logs"]',
    'CMD=/bin/true',
  ]);
  assert.deepEqual(c, {
    Env: ['PATH=/bin', 'A=new', 'B=two words', 'C=3 4'],
    Cmd: ['/bin/sh', '-c', '/bin/true'],
    Entrypoint: ['/bin/sh', '-c', '/entry.sh --flag'],
    WorkingDir: '/srv',
    User: '1000:1000',
    Labels: { 'org.example.a': '1', 'b c': 'd' },
    ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8000-8001/tcp': {} },
    StopSignal: 'SIGINT',
    Volumes: { '/data': {}, '/logs': {} },
  });
});

test('unknown instructions and bad values are InvalidArgument', () => {
  for (const bad of ['RUN echo', 'nonsense', 'EXPOSE eighty', 'ENV', 'LABEL =x']) {
    assert.throws(() => applyChanges({}, [bad]), (e: unknown) => isBerthError(e, 'InvalidArgument'), bad);
  }
});
