import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/live/outbox.js';

describe('Outbox', () => {
  it('is first-in first-out below capacity', () => {
    const box = new Outbox<number>(3);
    box.push(1);
    box.push(2);
    expect(box.shift()).toBe(1);
    box.push(3);
    expect([box.shift(), box.shift(), box.shift()]).toEqual([2, 3, undefined]);
    expect(box.takeDropped()).toBe(0);
  });

  it('drops the oldest when full and reports the count once', () => {
    const box = new Outbox<number>(3);
    for (let i = 1; i <= 10; i++) box.push(i);
    expect(box.length).toBe(3);
    expect(box.droppedTotal).toBe(7);
    expect(box.takeDropped()).toBe(7);
    expect(box.takeDropped()).toBe(0);
    expect([box.shift(), box.shift(), box.shift()]).toEqual([8, 9, 10]);
  });

  it('stays bounded over a long run with a consumer slower than the producer', () => {
    const box = new Outbox<number>(100);
    let taken = 0;
    let longest = 0;
    for (let i = 0; i < 100_000; i++) {
      box.push(i);
      if (i % 3 === 0 && box.shift() !== undefined) taken++;
      longest = Math.max(longest, box.length);
    }
    expect(longest).toBe(100);
    expect(taken + box.length + box.droppedTotal).toBe(100_000);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new Outbox(0)).toThrow(/positive integer/);
    expect(() => new Outbox(1.5)).toThrow(/positive integer/);
  });
});
