// Named points where a test can stop a berth process, to SIGKILL it exactly there (the
// faults a crash at that point leaves are what the test is about). With BERTH_PARK_AT=<name>
// and BERTH_PARK_FILE=<path>, the process that reaches the point writes its pid to the
// file and waits until it is killed. Without them a point costs one comparison.
import { writeFileSync } from 'node:fs';

export function parkPoint(name: string): Promise<void> | undefined {
  if (process.env.BERTH_PARK_AT !== name) return undefined;
  writeFileSync(process.env.BERTH_PARK_FILE ?? '/dev/null', String(process.pid));
  return new Promise(() => setInterval(() => {}, 1 << 30));
}
