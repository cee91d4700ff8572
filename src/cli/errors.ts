// Errors become one line on stderr and an exit code, here and nowhere else. Like docker:
// 125 for berth's own failures; run/exec pass the container's code through themselves.
export function printError(e: unknown, debug: boolean): void {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`berth: ${msg.split('\n')[0]}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
}

/** 125 for berth's own failures; an error that carries a container's code (126, 127) passes it on. */
export function exitCodeFor(e: unknown): number {
  const code = (e as { exitCode?: unknown })?.exitCode;
  return typeof code === 'number' ? code : 125;
}
