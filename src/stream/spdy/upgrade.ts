import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { SpdySession } from './session.js';

/**
 * Completes an HTTP/1.1 Upgrade to SPDY/3.1 from a node:http server's 'upgrade' event.
 * Picks the first of `protocols` that the client offers in X-Stream-Protocol-Version (one or
 * more headers, each possibly a comma-separated list), answers 101 and returns the session.
 * Otherwise answers 400 (no SPDY/3.1 Upgrade, or no protocol offered) or 403 (none of the
 * offered protocols is served) with a one-line reason, and returns undefined.
 */
export function upgradeToSpdy(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocols: string[],
): { session: SpdySession; protocol: string } | undefined {
  socket.on('error', () => {});
  const upgrade = (req.headers.upgrade ?? '').split(',').map((v) => v.trim().toLowerCase());
  if (!upgrade.includes('spdy/3.1')) {
    refuse(socket, 400, 'Bad Request', 'unable to upgrade: the Upgrade header must be SPDY/3.1');
    return undefined;
  }
  const offered = (req.headersDistinct['x-stream-protocol-version'] ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (offered.length === 0) {
    refuse(socket, 400, 'Bad Request', 'unable to upgrade: no X-Stream-Protocol-Version offered');
    return undefined;
  }
  const protocol = protocols.find((p) => offered.includes(p));
  if (protocol === undefined) {
    refuse(socket, 403, 'Forbidden',
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${protocols.join(' ')}]`);
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Connection: Upgrade\r\n' +
    'Upgrade: SPDY/3.1\r\n' +
    `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
  );
  if (head.length > 0) socket.unshift(head); // frames the client sent along with its request
  return { session: new SpdySession(socket, { server: true }), protocol };
}

function refuse(socket: Duplex, status: number, text: string, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' + body,
  );
}
