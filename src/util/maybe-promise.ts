/** A value, or a promise of one: what an interface with a synchronous and an asynchronous implementation returns. */
export type MaybePromise<T> = T | Promise<T>;
