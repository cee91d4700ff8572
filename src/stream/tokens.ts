// The requests behind streaming URLs: each is used once, within a minute (as the kubelet's
// streaming server does), and only so many wait at once.
import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors/index.js';
import type { StreamRequest } from './types.js';

const TTL_MS = 60_000;
const MAX_WAITING = 1000;

export class RequestTokens {
  private readonly waiting = new Map<string, { req: StreamRequest; expires: number }>();

  constructor(private readonly ttlMs = TTL_MS) {}

  /** A new token for req. */
  add(req: StreamRequest): string {
    this.sweep();
    if (this.waiting.size >= MAX_WAITING) throw new BerthError('ResourceExhausted', `too many streaming requests waiting (${MAX_WAITING}): try again later`);
    const token = randomBytes(16).toString('base64url');
    this.waiting.set(token, { req, expires: Date.now() + this.ttlMs });
    return token;
  }

  /** The request behind token, once; undefined when unknown, used or expired. */
  take(token: string): StreamRequest | undefined {
    const entry = this.waiting.get(token);
    this.waiting.delete(token);
    return entry && entry.expires > Date.now() ? entry.req : undefined;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, e] of this.waiting) if (e.expires <= now) this.waiting.delete(token);
  }
}
