// How Go prints values: fmt's %v (maps sorted, structs as {…}), the printf verbs templates
// use, strconv.Quote, and encoding/json. JS values stand for Go's: a plain object is a
// struct unless isMap says it is a map, an integral number is an int, null is nil.

/** A missing map key or an unset value: Go's invalid reflect.Value, printed "<no value>". */
export const NO_VALUE = Symbol('no value');

export type IsMap = (o: object) => boolean;

export function goType(v: unknown, isMap: IsMap): string {
  if (v === null || v === NO_VALUE || v === undefined) return '<nil>';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'string' || typeof v === 'boolean') return typeof v === 'string' ? 'string' : 'bool';
  if (Array.isArray(v)) return v.length && v.every((x) => typeof x === 'string') ? '[]string' : '[]interface {}';
  if (typeof v === 'object') {
    if (!isMap(v)) return 'struct';
    const vals = Object.values(v);
    return vals.length && vals.every((x) => typeof x === 'string') ? 'map[string]string' : 'map[string]interface {}';
  }
  return typeof v;
}

/** Go's %v: an int's digits; a float's shortest digits, with an exponent when it is < -4 or ≥ 6 (%g). */
export function formatNumber(n: number): string {
  // Beyond int64 Go would hold a float.
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 63) return Math.abs(n) < 1e21 ? String(n) : BigInt(n).toString();
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? '+Inf' : '-Inf';
  return (n < 0 ? '-' : '') + gForm(Math.abs(n), undefined);
}

const goExp = (e: number) => (e < 0 ? '-' : '+') + String(Math.abs(e)).padStart(2, '0');

/** fmt.Sprint of one value (%v); plus adds struct field names (%+v). */
export function formatValue(v: unknown, isMap: IsMap, plus = false): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v !== 'object') return String(v);
  // A Stringer (a value with a String method, as Go's time.Time) prints as it says.
  if (typeof (v as { String?: unknown }).String === 'function') return String((v as { String(): unknown }).String());
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x, isMap, plus)).join(' ')}]`;
  if (isMap(v)) return `map[${sortedKeys(v).map((k) => `${k}:${formatValue((v as Record<string, unknown>)[k], isMap, plus)}`).join(' ')}]`;
  return `{${Object.entries(v).map(([k, x]) => (plus ? `${k}:` : '') + formatValue(x, isMap, plus)).join(' ')}}`;
}

export function sortedKeys(o: object): string[] {
  return Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** strconv.Quote: Go escapes, printable Unicode kept. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const esc: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 34: '\\"', 92: '\\\\' };
    if (esc[c]) out += esc[c];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (/[\p{C}\p{Zl}\p{Zp}]/u.test(ch) || (/\p{Z}/u.test(ch) && c !== 0x20)) out += c > 0xffff ? `\\U${c.toString(16).padStart(8, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** encoding/json without HTML escaping (docker's json function): map keys sorted, struct fields in order. */
export function goJson(v: unknown, isMap: IsMap): string {
  if (v === null || v === undefined || v === NO_VALUE) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v).replace(/e([+-])(\d)$/, 'e$1$2') : 'null';
  if (typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => goJson(x, isMap)).join(',')}]`;
  const keys = isMap(v) ? sortedKeys(v) : Object.keys(v);
  return `{${keys.map((k) => `${goJson(k, isMap)}:${goJson((v as Record<string, unknown>)[k], isMap)}`).join(',')}}`;
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  width?: number;
  prec?: number;
}

/** fmt.Sprintf for the verbs templates use: v s q d b o x X c U e E f F g G t, widths, precisions, flags. */
export function sprintf(format: string, args: unknown[], isMap: IsMap): string {
  let out = '';
  let argi = 0;
  const bad = (verb: string, v: unknown) => (v === null || v === undefined || v === NO_VALUE ? `%!${verb}(<nil>)` : `%!${verb}(${goType(v, isMap)}=${formatValue(v, isMap)})`);
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const spec: Spec = { minus: false, plus: false, sharp: false, zero: false, space: false };
    for (i++; i < format.length; i++) {
      const f = format[i];
      if (f === '-') spec.minus = true;
      else if (f === '+') spec.plus = true;
      else if (f === '#') spec.sharp = true;
      else if (f === '0') spec.zero = true;
      else if (f === ' ') spec.space = true;
      else break;
    }
    const num = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const a = args[argi++];
        return typeof a === 'number' && Number.isInteger(a) ? a : undefined;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = num();
    if (spec.width !== undefined && spec.width < 0) {
      spec.minus = true;
      spec.width = -spec.width;
    }
    if (format[i] === '.') {
      i++;
      spec.prec = num() ?? 0;
    }
    const verb = format[i];
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, args[argi++], spec, isMap, bad);
  }
  if (argi < args.length) out += `%!(EXTRA ${args.slice(argi).map((a) => `${goType(a, isMap)}=${formatValue(a, isMap)}`).join(', ')})`;
  return out;
}

function pad(s: string, spec: Spec, numeric = false): string {
  const w = spec.width ?? 0;
  const len = [...s].length;
  if (len >= w) return s;
  if (spec.minus) return s + ' '.repeat(w - len);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0] : '';
    return sign + '0'.repeat(w - len) + s.slice(sign.length);
  }
  return ' '.repeat(w - len) + s;
}

function formatOne(verb: string, v: unknown, spec: Spec, isMap: IsMap, bad: (verb: string, v: unknown) => string): string {
  if (v === NO_VALUE) v = null;
  // Slices, maps and structs apply the verb to each element, as fmt does.
  if (v !== null && typeof v === 'object' && verb !== 'v' && verb !== 'T') {
    const each = (x: unknown) => formatOne(verb, x, { ...spec }, isMap, bad);
    if (Array.isArray(v)) return `[${v.map(each).join(' ')}]`;
    if (isMap(v)) return `map[${sortedKeys(v).map((k) => `${each(k)}:${each((v as Record<string, unknown>)[k])}`).join(' ')}]`;
    return `{${Object.values(v).map(each).join(' ')}}`;
  }
  const sign = (n: number, s: string) => (n < 0 || Object.is(n, -0) ? s : spec.plus ? '+' + s : spec.space ? ' ' + s : s);
  switch (verb) {
    case 'v':
      if (typeof v === 'string' && spec.sharp) return pad(goQuote(v), spec);
      if (typeof v === 'number') return pad(sign(v, formatNumber(v)), spec, true);
      return pad(formatValue(v, isMap, spec.plus), spec);
    case 'T':
      return pad(goType(v, isMap), spec);
    case 's':
      if (typeof v !== 'string') return bad(verb, v);
      return pad(spec.prec !== undefined ? [...v].slice(0, spec.prec).join('') : v, spec);
    case 'q':
      if (typeof v === 'string') return pad(spec.sharp && !v.includes('`') ? '`' + v + '`' : goQuote(spec.prec !== undefined ? [...v].slice(0, spec.prec).join('') : v), spec);
      if (typeof v === 'number' && Number.isInteger(v)) return pad(`'${goQuote(String.fromCodePoint(v)).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`, spec);
      return bad(verb, v);
    case 't':
      return typeof v === 'boolean' ? pad(String(v), spec) : bad(verb, v);
    case 'd':
    case 'b':
    case 'o':
    case 'O':
    case 'x':
    case 'X':
    case 'c':
    case 'U': {
      if ((verb === 'x' || verb === 'X') && typeof v === 'string') {
        const hex = Buffer.from(v, 'utf8').toString('hex');
        return pad(verb === 'X' ? hex.toUpperCase() : hex, spec);
      }
      if (typeof v !== 'number' || !Number.isInteger(v)) return bad(verb, v);
      if (verb === 'c') return pad(String.fromCodePoint(v), spec);
      if (verb === 'U') return pad('U+' + v.toString(16).toUpperCase().padStart(4, '0'), spec);
      const base = { d: 10, b: 2, o: 8, O: 8, x: 16, X: 16 }[verb];
      let digits = Math.abs(v).toString(base);
      if (verb === 'X') digits = digits.toUpperCase();
      if (spec.prec !== undefined) digits = digits.padStart(spec.prec, '0');
      const prefix = verb === 'O' ? '0o' : spec.sharp && verb === 'o' && !digits.startsWith('0') ? '0' : spec.sharp && verb === 'x' ? '0x' : spec.sharp && verb === 'X' ? '0X' : spec.sharp && verb === 'b' ? '0b' : '';
      const s = (v < 0 ? '-' : spec.plus ? '+' : spec.space ? ' ' : '') + prefix + digits;
      return pad(s, spec, spec.prec === undefined);
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
      if (typeof v !== 'number') return bad(verb, v);
      let s: string;
      if (!Number.isFinite(v)) s = Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf';
      else if (verb === 'f' || verb === 'F') s = toFixed(Math.abs(v), spec.prec ?? 6);
      else if (verb === 'e' || verb === 'E') s = toExp(Math.abs(v), spec.prec ?? 6);
      else s = gForm(Math.abs(v), spec.prec);
      if (verb === 'E' || verb === 'G') s = s.toUpperCase();
      if (Number.isFinite(v) && v < 0) s = '-' + s;
      else if (Number.isFinite(v) || v > 0) s = sign(v, s);
      return pad(s, spec, Number.isFinite(v));
    }
    default:
      return bad(verb, v);
  }
}

/**
 * The digits of x·10^shift rounded to an integer, a tie to even as Go's strconv does (JS's
 * toFixed rounds a tie up: 2.5 → "3" where Go prints "2"). x ≥ 0; its exact decimal
 * expansion comes from toExponential(100).
 */
function scaledRound(x: number, shift: number): string {
  const [m, ex] = x.toExponential(100).split('e');
  const digits = m.replace('.', '');
  const k = Number(ex) + 1 + shift; // digits left of the point in x·10^shift
  if (k < 0) return '0';
  const int = digits.slice(0, k).padEnd(k, '0');
  const rest = digits.slice(k);
  let n = BigInt(int || '0');
  if (rest[0] > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || n % 2n === 1n))) n++;
  return n.toString();
}

/** x ≥ 0 rounded to sig significant digits: the digits and the decimal exponent of the first. */
function significant(x: number, sig: number): { digits: string; exp: number } {
  if (x === 0) return { digits: '0'.repeat(sig), exp: 0 };
  let exp = Number(x.toExponential().split('e')[1]);
  let digits = scaledRound(x, sig - 1 - exp);
  // 9.99 to two digits is 10: one more digit, and the exponent goes up.
  if (digits.length > sig) {
    digits = digits.slice(0, sig);
    exp++;
  }
  return { digits, exp };
}

/** %f */
function toFixed(x: number, prec: number): string {
  const n = scaledRound(x, prec).padStart(prec + 1, '0');
  return prec ? `${n.slice(0, -prec)}.${n.slice(-prec)}` : n;
}

/** %e: one digit, prec more, and at least two exponent digits. */
function toExp(x: number, prec: number): string {
  const { digits, exp } = significant(x, prec + 1);
  return `${digits[0]}${prec ? '.' + digits.slice(1) : ''}e${goExp(exp)}`;
}

/** %g: shortest digits (or prec significant ones), exponent form when exp < -4 or exp ≥ precision (6 for shortest). */
function gForm(x: number, prec: number | undefined): string {
  if (x === 0) return '0';
  let digits: string;
  let exp: number;
  if (prec === undefined) {
    const [m, e] = x.toExponential().split('e');
    [digits, exp] = [m.replace('.', ''), Number(e)];
  } else ({ digits, exp } = significant(x, Math.max(prec, 1)));
  digits = digits.replace(/0+$/, '') || '0';
  if (exp < -4 || exp >= (prec ?? 6)) return `${digits[0]}${digits.length > 1 ? '.' + digits.slice(1) : ''}e${goExp(exp)}`;
  if (exp < 0) return `0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return digits.length > exp + 1 ? `${int}.${digits.slice(exp + 1)}` : int;
}
