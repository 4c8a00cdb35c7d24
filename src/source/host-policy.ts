import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { SourceError, type SourceSpec } from './source-spec.js';

/**
 * Which network sources a service may be told to open. A stream URL is a request to connect somewhere from inside
 * the service's network: by default it may not point at the machine itself, its link-local neighbours or private
 * ranges (whose answers, through the stream's state and error, would map the inside of that network), nor make
 * the service listen on a port.
 */
export interface HostPolicy {
  /** loopback, link-local, private and other non-public addresses (cameras on the LAN) */
  allowPrivateHosts: boolean;
  /** listener modes: udp://@:port, srt://…?mode=listener (a port opened on the service's machine) */
  allowListeners: boolean;
}

export const DEFAULT_HOST_POLICY: Readonly<HostPolicy> = Object.freeze({ allowPrivateHosts: false, allowListeners: false });

const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['240.0.0.0', 4], // reserved, and the broadcast address
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');

/** Whether an IP address (v4, v6, or v4-mapped v6) is outside the public internet. */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return NON_PUBLIC.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) throw new TypeError(`not an IP address: ${address}`);
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** A URL source that makes the service listen instead of connect. */
export function isListener(spec: SourceSpec): boolean {
  if (spec.kind === 'file') return false;
  if (spec.protocol !== 'udp' && spec.protocol !== 'srt' && spec.protocol !== 'rtp' && spec.protocol !== 'tcp') return false;
  if (/^[a-z]+:\/\/@?:\d/i.test(spec.url)) return true; // no host: bind locally
  const url = new URL(spec.url);
  return url.searchParams.get('mode') === 'listener' || url.searchParams.get('listen') === '1' || url.hostname.startsWith('@');
}

export type Lookup = (host: string) => Promise<{ address: string }[]>;
const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** Resolver answers that mean "not now" rather than "no such name" (Node's DNS error codes). */
const TRANSIENT_LOOKUP_CODES = new Set(['EAI_AGAIN', 'ETIMEOUT', 'ESERVFAIL', 'ECONNREFUSED', 'ECANCELLED', 'EREFUSED']);

/**
 * The resolver could not answer for a stream's host name just now: not a refusal, so a live stream tries again
 * (with its reconnection backoff) instead of failing for good on a resolver's hiccup.
 */
export class HostLookupError extends Error {
  override readonly name = 'HostLookupError';
}

/**
 * Refuses a URL source the policy does not allow (SourceError 'listener-not-allowed' or 'host-not-allowed'). A
 * host name counts by every address it resolves to now; checked again at each connection, so a name that later
 * resolves inside is refused then. The message never says whether the host answered. A resolver that cannot
 * answer now throws HostLookupError.
 */
export async function checkSourceHost(spec: SourceSpec, policy: HostPolicy, lookup: Lookup = systemLookup): Promise<void> {
  if (spec.kind === 'file') return;
  if (isListener(spec)) {
    if (!policy.allowListeners) throw new SourceError('listener-not-allowed', `Refusing ${spec.url}: listener modes open a port on this machine and are off (serve --allow-listeners).`);
    return;
  }
  if (policy.allowPrivateHosts) return;
  const host = new URL(spec.url).hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
      if (code && TRANSIENT_LOOKUP_CODES.has(code)) throw new HostLookupError(`Cannot resolve the host name of ${spec.url} now (${code}): try again later.`, { cause: error });
      throw new SourceError('host-not-allowed', `Refusing ${spec.url}: its host name does not resolve.`);
    }
  }
  if (addresses.length === 0 || addresses.some(isNonPublicAddress)) {
    throw new SourceError('host-not-allowed', `Refusing ${spec.url}: it points at a loopback, link-local or private address (serve --allow-private-hosts allows them, e.g. cameras on the LAN).`);
  }
}
