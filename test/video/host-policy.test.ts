import { describe, expect, it } from 'vitest';
import { checkSourceHost, DEFAULT_HOST_POLICY, HostLookupError, isListener, isNonPublicAddress, type Lookup } from '../../src/source/host-policy.js';
import { parseSource, SourceError } from '../../src/source/source-spec.js';

const resolvesTo =
  (table: Record<string, string[]>): Lookup =>
  (host) => (table[host] ? Promise.resolve(table[host]!.map((address) => ({ address }))) : Promise.reject(new Error('ENOTFOUND')));
const dns = resolvesTo({ 'camera.example.com': ['93.184.216.34'], 'inside.example.com': ['10.1.2.3'], 'both.example.com': ['93.184.216.34', '127.0.0.1'], 'metadata.example.com': ['169.254.169.254'] });

async function codeOf(url: string, policy = DEFAULT_HOST_POLICY): Promise<string> {
  try {
    await checkSourceHost(parseSource(url), policy, dns);
    return 'allowed';
  } catch (error) {
    if (error instanceof SourceError) return error.code;
    throw error;
  }
}

describe('host policy for stream URLs', () => {
  it('classifies addresses: loopback, private, link-local, CGNAT, unique-local and mapped ones are not public', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1'])
      expect(isNonPublicAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isNonPublicAddress(a), a).toBe(false);
  });

  it('recognises listener modes', () => {
    expect(isListener(parseSource('udp://@:1234'))).toBe(true);
    expect(isListener(parseSource('srt://:9000?mode=listener'))).toBe(true);
    expect(isListener(parseSource('srt://camera.example.com:9000?mode=listener'))).toBe(true);
    expect(isListener(parseSource('srt://camera.example.com:9000'))).toBe(false);
    expect(isListener(parseSource('rtsp://camera.example.com/live'))).toBe(false);
  });

  it('by default refuses inside hosts, names resolving inside (any of their addresses) and listeners; allows public hosts', async () => {
    expect(await codeOf('rtsp://camera.example.com/live')).toBe('allowed');
    expect(await codeOf('rtsp://93.184.216.34/live')).toBe('allowed');
    expect(await codeOf('rtsp://127.0.0.1:8554/cam')).toBe('host-not-allowed');
    expect(await codeOf('http://[::1]/a.m3u8')).toBe('host-not-allowed');
    expect(await codeOf('http://169.254.169.254/latest/meta-data.m3u8')).toBe('host-not-allowed');
    expect(await codeOf('rtsp://inside.example.com/cam')).toBe('host-not-allowed');
    expect(await codeOf('rtsp://both.example.com/cam')).toBe('host-not-allowed');
    expect(await codeOf('rtsp://metadata.example.com/cam')).toBe('host-not-allowed');
    expect(await codeOf('rtsp://unknown.example.com/cam')).toBe('host-not-allowed');
    expect(await codeOf('udp://@:1234')).toBe('listener-not-allowed');
    expect(await codeOf('srt://camera.example.com:9000?mode=listener')).toBe('listener-not-allowed');
  });

  it('allows what the configuration opts into', async () => {
    expect(await codeOf('rtsp://127.0.0.1:8554/cam', { allowPrivateHosts: true, allowListeners: false })).toBe('allowed');
    expect(await codeOf('udp://@:1234', { allowPrivateHosts: true, allowListeners: false })).toBe('listener-not-allowed');
    expect(await codeOf('udp://@:1234', { allowPrivateHosts: false, allowListeners: true })).toBe('allowed');
  });

  it('refuses a name that does not exist, and tells a resolver that cannot answer now apart from it', async () => {
    const failing = (code: string): Lookup => () => Promise.reject(Object.assign(new Error(`getaddrinfo ${code} camera.example.com`), { code }));
    const check = (lookup: Lookup) => checkSourceHost(parseSource('rtsp://camera.example.com/cam'), DEFAULT_HOST_POLICY, lookup);
    await expect(check(failing('ENOTFOUND'))).rejects.toMatchObject({ name: 'SourceError', code: 'host-not-allowed' });
    for (const code of ['EAI_AGAIN', 'ETIMEOUT', 'ESERVFAIL']) {
      const error = await check(failing(code)).catch((e: unknown) => e);
      expect(error, code).toBeInstanceOf(HostLookupError);
      expect(error).not.toBeInstanceOf(SourceError);
      expect((error as Error).message).toContain(code);
    }
  });

  it('does not say whether an inside host answers', async () => {
    const messages = await Promise.all(
      ['rtsp://127.0.0.1:1/cam', 'rtsp://127.0.0.1:8554/cam'].map((url) => checkSourceHost(parseSource(url), DEFAULT_HOST_POLICY, dns).catch((e: Error) => e.message.replace(url, 'URL'))),
    );
    expect(messages[0]).toBe(messages[1]);
  });
});
