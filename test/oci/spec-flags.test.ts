// The spec builder's parts behind run's host flags: a seccomp profile file (docker's format)
// as linux.seccomp, /dev/shm's size and source, --group-add names, memory reservation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../src/errors/index.js';
import { buildSpec, cgroupLimits, DEFAULT_SHM_SIZE, seccompFromProfile, type SpecInput } from '../../src/oci/index.js';
import { makeRootfs } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-oci-flags-'));
const rootfs = makeRootfs(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const build = (o: Partial<SpecInput> = {}) => buildSpec({ id: 'c0ffee0123456789', rootfs, image: { Cmd: ['sh'] }, ...o });

function refusedWith(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => isBerthError(e, 'InvalidArgument') && message.test((e as Error).message));
}

test('a profile in docker format: archMap for this machine, rules kept by capability and architecture', () => {
  const native = ({ x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' } as Record<string, string>)[arch()]!;
  const goArch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[arch()]!;
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [{ architecture: native, subArchitectures: ['SCMP_ARCH_X86'] }, { architecture: 'SCMP_ARCH_OTHER', subArchitectures: [] }],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'always' },
      { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_PTRACE'] } },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: [goArch] } },
      { names: ['elsewhere'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['mips64'] } },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
    ],
  };
  const plain = seccompFromProfile(profile, 'p.json', []);
  assert.equal(plain.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(plain.defaultErrnoRet, 1);
  assert.deepEqual(plain.architectures, [native, 'SCMP_ARCH_X86']);
  assert.deepEqual(plain.syscalls.map((r) => r.names[0]), ['read', 'ptrace', 'personality', 'arch_prctl', 'mkdir']);
  assert.deepEqual(plain.syscalls[2]!.args, [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
  assert.equal(plain.syscalls[4]!.errnoRet, 13);
  const admin = seccompFromProfile(profile, 'p.json', ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE']);
  assert.deepEqual(admin.syscalls.map((r) => r.names[0]), ['read', 'mount', 'personality', 'arch_prctl', 'mkdir']);
  // The runtime spec's own format passes through.
  assert.deepEqual(seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [] }, 'q'), { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [] });
});

test('a profile that is not one is refused with what is wrong', () => {
  refusedWith(() => seccompFromProfile([], 'f.json'), /^seccomp profile f.json: not a JSON object$/);
  refusedWith(() => seccompFromProfile({}, 'f.json'), /defaultAction: unknown action undefined/);
  refusedWith(() => seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: {} }, 'f.json'), /syscalls is not a list/);
  refusedWith(() => seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }, 'f.json'), /syscalls\[0\]: names must list syscall names/);
  refusedWith(() => seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'ALLOW' }] }, 'f.json'), /syscalls\[0\]: unknown action "ALLOW"/);
  refusedWith(() => seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'EQ' }] }] }, 'f.json'), /args\[0\] needs index, value and a known op/);
  refusedWith(() => seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', archMap: {} }, 'f.json'), /archMap is not a list/);
});

test('buildSpec: the profile replaces the default; /dev/shm size and source; --group-add names; memory reservation', async () => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  const s = await build({ seccompProfile: { path: '/p.json', profile } });
  assert.deepEqual(s.linux.seccomp?.syscalls, [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }]);
  assert.equal((await build({ seccompProfile: { path: '/p.json', profile }, privileged: true })).linux.seccomp, undefined, 'privileged: no profile');
  const shm = (o: Partial<SpecInput>) => build(o).then((x) => x.mounts.find((m) => m.destination === '/dev/shm')!);
  assert.ok((await shm({})).options.includes(`size=${DEFAULT_SHM_SIZE}`));
  assert.ok((await shm({ shmSize: 1 << 20 })).options.includes('size=1048576'));
  assert.deepEqual(await shm({ shmSource: '/dev/shm' }), { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'noexec', 'nodev'] });
  const groups = await build({ additionalGroups: ['wheel', '4242'], supplementalGroups: [77] });
  assert.deepEqual(groups.process.user.additionalGids, [77, 10, 4242]);
  await assert.rejects(build({ additionalGroups: ['nosuchgroup'] }), /unable to find group nosuchgroup: no matching entries in group file/);
  assert.deepEqual(cgroupLimits({ memory: 64 << 20, memorySwap: -1, memoryReservation: 32 << 20 }).memory, { limit: 64 << 20, swap: -1, reservation: 32 << 20 });
  await assert.rejects(build({ sysctls: { 'kernel.shmmax': '1' }, namespaces: [{ type: 'ipc', host: true }] }), /cannot be set with the host IPC namespace/);
});
