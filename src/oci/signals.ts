// Signal names and numbers (Linux, x86/arm generic numbering).
import { invalidArgument } from '../errors/index.js';

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10,
  SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19,
  TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28,
  IO: 29, POLL: 29, PWR: 30, SYS: 31,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** The SIG… name of a signal given by name or number (SIGQUIT for QUIT, 3 or sigquit); as given when unknown. */
export function signalName(signal: string | number): string {
  const given = String(signal).trim().toUpperCase();
  let n: number | undefined;
  try {
    n = parseSignal(signal);
  } catch {
    // not a signal: shown as given
  }
  const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
  if (name) return `SIG${name}`;
  return /^\d+$/.test(given) || given.startsWith('SIG') ? given : `SIG${given}`;
}

/** 'TERM', 'SIGTERM', 'sigterm', '15', 15, 'RTMIN+3' → signal number; anything else → InvalidArgument. */
export function parseSignal(signal: string | number): number {
  const bad = () => invalidArgument(`invalid signal: ${JSON.stringify(signal)}`);
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 1 || signal > SIGRTMAX) throw bad();
    return signal;
  }
  const s = signal.trim().toUpperCase();
  if (/^\d+$/.test(s)) return parseSignal(Number(s));
  const name = s.startsWith('SIG') ? s.slice(3) : s;
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const n = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw bad();
}
