import { timingSafeEqual, createHash, randomBytes } from 'node:crypto';

/**
 * API tokens. A request carries one as `Authorization: Bearer <token>` or `X-API-Token: <token>`; a WebSocket
 * client may also use the `token` query parameter (browsers cannot set headers on a WebSocket). Comparison is
 * constant-time over SHA-256 digests so neither content nor length leaks through timing.
 */
export class TokenCheck {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    if (tokens.length === 0) throw new RangeError('at least one API token is needed');
    for (const token of tokens) if (token.length < 16) throw new RangeError('API tokens must be at least 16 characters long');
    this.digests = tokens.map(digest);
  }

  accepts(token: string | undefined): boolean {
    if (!token) return false;
    const candidate = digest(token);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, candidate) || ok;
    return ok;
  }
}

/** The token a request presents, from the headers or (WebSocket upgrades) the `token` query parameter. */
export function presentedToken(headers: Record<string, string | string[] | undefined>, url: string | undefined, allowQuery: boolean): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match) return match[1];
  }
  const header = headers['x-api-token'];
  if (typeof header === 'string' && header) return header;
  if (allowQuery && url) return new URL(url, 'http://localhost').searchParams.get('token') ?? undefined;
  return undefined;
}

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
