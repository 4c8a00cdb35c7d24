import { timingSafeEqual, createHash, randomBytes } from 'node:crypto';

/**
 * What a token may do. `admin`: everything, everyone's streams and subscriptions. `user`: index videos, follow
 * streams and subscribe; sees and changes only the streams and subscriptions it created; cannot delete videos.
 * `read-only`: search, look, and subscribe (its own subscriptions); changes nothing in the index or the streams.
 */
export type Role = 'admin' | 'user' | 'read-only';
export const ROLES: readonly Role[] = ['admin', 'user', 'read-only'];

/** Who is calling: the owner recorded on what it creates, and its role. */
export interface Principal {
  owner: string;
  role: Role;
}

/** Owner of what was created before tokens had owners, and of a bare token. */
export const ADMIN_OWNER = 'admin';

/**
 * One configured token: `owner:role:token` (e.g. `alice:user:…`), or a bare token, which is the administrator's.
 */
export function parseTokenGrant(text: string): Principal & { token: string } {
  const parts = text.split(':');
  if (parts.length === 1) return { owner: ADMIN_OWNER, role: 'admin', token: text };
  if (parts.length !== 3) throw new RangeError('an API token is "owner:role:token" or a bare token');
  const [owner, role, token] = parts as [string, string, string];
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(owner)) throw new RangeError(`token owner "${owner.slice(0, 80)}": letters, digits, _ . - (at most 64)`);
  if (!(ROLES as readonly string[]).includes(role)) throw new RangeError(`token role "${role.slice(0, 80)}": one of ${ROLES.join(', ')}`);
  return { owner, role: role as Role, token };
}

/**
 * API tokens. A request carries one as `Authorization: Bearer <token>` or `X-API-Token: <token>`; a WebSocket
 * client may also use the `token` query parameter (browsers cannot set headers on a WebSocket). Comparison is
 * constant-time over SHA-256 digests so neither content nor length leaks through timing.
 */
export class TokenCheck {
  private readonly grants: { digest: Buffer; principal: Principal }[];

  constructor(tokens: readonly string[]) {
    if (tokens.length === 0) throw new RangeError('at least one API token is needed');
    this.grants = tokens.map((text) => {
      const { token, ...principal } = parseTokenGrant(text);
      if (token.length < 16) throw new RangeError('API tokens must be at least 16 characters long');
      return { digest: digest(token), principal };
    });
  }

  /** The token's principal, or undefined for an unknown token. Every grant is compared (constant time). */
  identify(token: string | undefined): Principal | undefined {
    if (!token) return undefined;
    const candidate = digest(token);
    let found: Principal | undefined;
    for (const grant of this.grants) if (timingSafeEqual(grant.digest, candidate)) found ??= grant.principal;
    return found;
  }

  accepts(token: string | undefined): boolean {
    return this.identify(token) !== undefined;
  }
}

/**
 * Why a role may not make this request, or null when it may. Read-only tokens look and search (searching is a
 * POST); users change everything but the deletion of videos, which removes other people's results too, and the
 * shot codebook, which changes everyone's shot search.
 */
export function roleRefusal(principal: Principal, method: string, path: string): string | null {
  if (principal.role === 'admin') return null;
  const reading = method === 'GET' || method === 'HEAD' || (method === 'POST' && (path === '/v1/search' || path === '/v1/shots/search'));
  if (principal.role === 'read-only' && !reading) return `a read-only token may search and look, not ${method} ${path}`;
  if (method === 'DELETE' && path.startsWith('/v1/videos/')) return 'deleting a video takes an admin token';
  if (method === 'POST' && path === '/v1/shots/learn') return 'learning the shot codebook (it changes every keyframe\'s shot vector) takes an admin token';
  return null;
}

/** Whether `principal` may see or change something created by `owner`. */
export function mayAccess(principal: Principal, owner: string): boolean {
  return principal.role === 'admin' || principal.owner === owner;
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
