// Shared test helpers: a busybox test image, isolated berth instances, host inspection
// and the leak finder used after the suite.
export { makeBusyboxRootfs, busyboxTarball, PASSWD, GROUP } from './busybox.js';
export { BERTH, berthFails, berthOk, newInstance, runCommand, type Instance, type RunOptions, type RunResult } from './instance.js';
export { listMounts, listProcesses, processesUsing, unmountUnder, killAndWait, isAlive, startTimeOf, spawnSleeper, spawnZombie, type MountInfo, type ProcessInfo } from './host.js';
export { findLeaks, TEST_DIR_PREFIX } from './leaks.js';
