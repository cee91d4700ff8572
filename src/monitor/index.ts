// conmon driver: every container and exec runs under conmon, which holds its stdio/PTY,
// writes its CRI log and exit code, and outlives the berth process that started it.
export { createContainer, execInContainer, followResizes, PreparedExec, RuntimeError } from './conmon.js';
export type { ConmonCreateOptions, ExecOptions, ExecResult, ExecRun } from './conmon.js';
export { attach, attachSocketPath, parseDetachKeys } from './attach.js';
export type { AttachStreams, AttachResult, AttachSession } from './attach.js';
export { resize, reopenLog } from './ctl.js';
export type { TerminalSize } from './ctl.js';
export { exitTime, readExitCode, readExitCodeAsync, waitExitCode, wasOomKilled } from './exit.js';
export { readLog, parseLogRecord } from './log.js';
export type { LogLine, ReadLogOptions } from './log.js';
