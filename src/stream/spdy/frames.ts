// SPDY/3.1 wire format: frame headers, name/value header blocks, the zlib dictionary,
// and a byte queue the session parses frames from.

export const VERSION = 3;

export const SYN_STREAM = 1;
export const SYN_REPLY = 2;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const PING = 6;
export const GOAWAY = 7;
export const HEADERS = 8;
export const WINDOW_UPDATE = 9;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const SETTINGS_INITIAL_WINDOW_SIZE = 7;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

export const GOAWAY_OK = 0;
export const GOAWAY_PROTOCOL_ERROR = 1;

export const MAX_ID = 0x7fffffff;

/** A control frame: version 3, the type, 8 bits of flags and a 24-bit length. */
export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b.writeUInt16BE(0x8000 | VERSION, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  payload.copy(b, 8);
  return b;
}

/** A DATA frame's 8 bytes before its payload of length bytes: the payload is written after it as it is, not copied. */
export function dataHeader(id: number, flags: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(id & MAX_ID, 0);
  b.writeUInt32BE(((flags << 24) | length) >>> 0, 4);
  return b;
}

/** A control frame whose payload is a list of 32-bit words. */
export function wordsFrame(type: number, flags: number, ...words: number[]): Buffer {
  const p = Buffer.allocUnsafe(4 * words.length);
  words.forEach((w, i) => p.writeUInt32BE(w >>> 0, 4 * i));
  return controlFrame(type, flags, p);
}

export function settingsFrame(entries: Array<[id: number, value: number]>): Buffer {
  const p = Buffer.allocUnsafe(4 + 8 * entries.length);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach(([id, value], i) => {
    p.writeUInt32BE(id & 0xffffff, 4 + 8 * i); // entry flags 0: not to be persisted
    p.writeUInt32BE(value >>> 0, 8 + 8 * i);
  });
  return controlFrame(SETTINGS, 0, p);
}

/** The uncompressed name/value block: 32-bit count, then 32-bit length-prefixed names and values. */
export function encodeHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const entries = Object.entries(headers);
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(entries.length, 0);
  parts.push(count);
  for (const [name, value] of entries) {
    for (const s of [name.toLowerCase(), String(value)]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(b.length, 0);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

/** Parses a name/value block; names are lower-cased, a repeated name's values are joined by NUL
 *  (the wire form of a multi-valued header). Throws on a malformed block. */
export function decodeHeaders(b: Buffer): Record<string, string> {
  let off = 0;
  const word = (): number => {
    if (off + 4 > b.length) throw new Error('truncated header block');
    const v = b.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = (): string => {
    const n = word();
    if (off + n > b.length) throw new Error('truncated header block');
    const s = b.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const count = word();
  if (count > b.length / 8) throw new Error('header block count exceeds its size');
  const headers: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const value = str();
    if (!name) throw new Error('empty header name');
    headers[name] = name in headers ? `${headers[name]}\0${value}` : value;
  }
  if (off !== b.length) throw new Error('trailing bytes after header block');
  return headers;
}

// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): 32-bit length-prefixed
// header names and common values, followed by a run of common value fragments.
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset',
  'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization',
  'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma',
  'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public',
  'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
  '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
  '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
  'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const DICTIONARY = Buffer.concat([
  ...DICTIONARY_WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);

/** Received bytes as a list of chunks, so a large frame arriving in many reads is joined once. */
export class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The first n bytes (n <= length), without removing them. */
  peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  /** Removes and returns the first n bytes (n <= length). */
  take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[0];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const c = this.chunks[0];
        if (c.length <= need) {
          parts.push(c);
          this.chunks.shift();
          need -= c.length;
        } else {
          parts.push(c.subarray(0, need));
          this.chunks[0] = c.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this.length -= n;
    return out;
  }
}
