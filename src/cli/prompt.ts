// Questions on the terminal, for commands that ask before they remove.
import { writeOut } from './stdout.js';

/** Asks on the terminal (stdout) and reads one answer line from stdin; true for y/yes. */
export async function confirm(question: string): Promise<boolean> {
  writeOut(`${question} [y/N] `);
  let line = '';
  for await (const chunk of process.stdin) {
    line += String(chunk);
    if (line.includes('\n')) break;
  }
  process.stdin.pause();
  return /^y(es)?$/i.test(line.split('\n')[0].trim());
}
