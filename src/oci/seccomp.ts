// berth's default seccomp profile.
//
// Design: default ALLOW with an EPERM denylist, not docker's default-ERRNO allowlist. An
// allowlist must know every syscall a libc may use (new ones keep coming: clone3,
// faccessat2, epoll_pwait2 …) and breaks programs when it lags behind; a denylist only
// has to name the calls that reach kernel surfaces a container must not touch. The list
// is the set docker blocks for a container without the matching capability:
//   - host-wide state: modules, kexec, reboot, swap, clock setting, accounting, quotas;
//   - mounts and new namespaces (mount, pivot_root, unshare, setns, clone with CLONE_NEW*);
//     a container process creating a user namespace regains "root" over new mounts;
//   - large attack surfaces a container does not need: kernel keyrings (not namespaced),
//     bpf, perf_event_open, userfaultfd, io_uring, open_by_handle_at (escapes a bind mount
//     by file handle), AF_VSOCK sockets, obsolete calls (uselib, sysfs, ustat, vm86 …).
// Calls gated by a capability are allowed again when the container has that capability
// (e.g. --cap-add SYS_ADMIN allows mount), as in docker. personality(2) is left alone: its
// flags only change the calling process (e.g. disabling its own ASLR), not the host.
// --privileged containers get no profile at all.
import { arch } from 'node:os';
import type { Seccomp, SeccompRule } from './types.js';

const EPERM = 1;
const ENOSYS = 38;

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const AF_VSOCK = 40;

/** Calls denied unless the container holds one of `unless` (empty = always denied). */
const DENYLIST: { unless: string[]; names: string[] }[] = [
  {
    unless: [],
    names: [
      'add_key', 'keyctl', 'request_key', 'userfaultfd', 'uselib', 'sysfs', '_sysctl', 'ustat',
      'vm86', 'vm86old', 'create_module', 'get_kernel_syms', 'query_module', 'nfsservctl',
      'io_uring_setup', 'io_uring_enter', 'io_uring_register',
    ],
  },
  {
    unless: ['CAP_SYS_ADMIN'],
    names: [
      'mount', 'umount', 'umount2', 'pivot_root', 'unshare', 'setns', 'swapon', 'swapoff',
      'quotactl', 'quotactl_fd', 'fanotify_init', 'lookup_dcookie', 'fsopen', 'fsconfig',
      'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
    ],
  },
  { unless: ['CAP_SYS_ADMIN', 'CAP_BPF'], names: ['bpf'] },
  { unless: ['CAP_SYS_ADMIN', 'CAP_PERFMON'], names: ['perf_event_open'] },
  { unless: ['CAP_SYS_MODULE'], names: ['init_module', 'finit_module', 'delete_module'] },
  { unless: ['CAP_SYS_BOOT'], names: ['kexec_load', 'kexec_file_load', 'reboot'] },
  {
    unless: ['CAP_SYS_TIME'],
    names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64'],
  },
  { unless: ['CAP_SYS_PACCT'], names: ['acct'] },
  { unless: ['CAP_SYS_RAWIO'], names: ['iopl', 'ioperm'] },
  { unless: ['CAP_DAC_READ_SEARCH'], names: ['open_by_handle_at'] },
  { unless: ['CAP_SYS_TTY_CONFIG'], names: ['vhangup'] },
  { unless: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'], names: ['syslog'] },
  { unless: ['CAP_SYS_NICE'], names: ['mbind', 'set_mempolicy', 'move_pages', 'migrate_pages'] },
];

function architectures(): string[] {
  switch (arch()) {
    case 'x64': return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64': return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'ppc64': return ['SCMP_ARCH_PPC64LE'];
    case 's390x': return ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'];
    default: return [];
  }
}

/** The default profile for a container holding `capabilities` (CAP_* names). */
export function defaultSeccompProfile(capabilities: string[]): Seccomp {
  const has = (cap: string) => capabilities.includes(cap);
  const denied: string[] = [];
  for (const { unless, names } of DENYLIST) {
    if (!unless.some(has)) denied.push(...names);
  }
  const syscalls: SeccompRule[] = [{ names: denied, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  if (!has('CAP_SYS_ADMIN')) {
    // clone(2) may fork freely but not create namespaces. Rules for one syscall are ORed,
    // so each flag gets its own masked test. s390x has flags in the second argument.
    const flagsArg = arch() === 's390x' ? 1 : 0;
    for (const flag of [CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET]) {
      syscalls.push({
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: flagsArg, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      });
    }
    // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  syscalls.push({
    names: ['socket'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: EPERM,
    args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_EQ' }],
  });
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: architectures(), syscalls };
}
