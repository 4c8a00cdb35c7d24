import { describe, expect, it } from 'vitest';
import { SessionsBySize } from '../../src/model/sessions-by-size.js';

/** Fake sessions: numbered in the order they are made. */
function pool(capacity: number, failOn: number[] = []) {
  let made = 0;
  const create = async () => {
    made++;
    if (failOn.includes(made)) throw new Error(`session ${made} failed`);
    return `s${made}`;
  };
  return { sessions: new SessionsBySize('s0', create, capacity), made: () => made };
}

describe('sessions kept per input size', () => {
  it('gives the first size the session made at load, each new size its own session up to the capacity', async () => {
    const { sessions, made } = pool(3);
    expect(await sessions.for(288, 512)).toBe('s0');
    expect(await sessions.for(384, 512)).toBe('s1');
    expect(await sessions.for(288, 512)).toBe('s0');
    expect(await sessions.for(512, 512)).toBe('s2');
    expect(await sessions.for(384, 512)).toBe('s1');
    expect(made()).toBe(2);
    expect((await sessions.all()).sort()).toEqual(['s0', 's1', 's2']);
  });

  it('past the capacity hands the least recently used session to the new size', async () => {
    const { sessions, made } = pool(2);
    await sessions.for(288, 512); // s0
    await sessions.for(384, 512); // s1
    await sessions.for(288, 512); // s0 used last: s1 is the least recent
    expect(await sessions.for(512, 512)).toBe('s1');
    expect(await sessions.for(384, 512)).toBe('s0');
    expect(await sessions.for(512, 512)).toBe('s1');
    expect(made()).toBe(1);
    expect((await sessions.all()).sort()).toEqual(['s0', 's1']);
  });

  it('with capacity 1 (the cpu) every size shares the one session', async () => {
    const { sessions, made } = pool(1);
    for (const [h, w] of [[288, 512], [384, 512], [288, 512]] as const) expect(await sessions.for(h, w)).toBe('s0');
    expect(made()).toBe(0);
  });

  it('asks once for a size requested twice at the same moment', async () => {
    const { sessions, made } = pool(4);
    await sessions.for(288, 512);
    const [a, b] = await Promise.all([sessions.for(384, 512), sessions.for(384, 512)]);
    expect(a).toBe('s1');
    expect(b).toBe('s1');
    expect(made()).toBe(1);
  });

  it('when a session cannot be made, fails that request and shares the sessions there are from then on', async () => {
    const { sessions, made } = pool(4, [2]);
    await sessions.for(288, 512); // s0
    expect(await sessions.for(384, 512)).toBe('s1');
    await expect(sessions.for(512, 512)).rejects.toThrow('session 2 failed');
    // Capacity is now the two sessions made: the new size takes the least recently used one, nothing is made.
    expect(await sessions.for(512, 512)).toBe('s0');
    expect(await sessions.for(360, 640)).toBe('s1');
    expect(made()).toBe(2);
    expect((await sessions.all()).sort()).toEqual(['s0', 's1']);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new SessionsBySize('s0', async () => 's', 0)).toThrow(RangeError);
    expect(() => new SessionsBySize('s0', async () => 's', 1.5)).toThrow(RangeError);
  });
});
