/**
 * Work chained per key: `run(key, work)` starts `work` once the work run before it for the same key has ended
 * (fulfilled or rejected), so the works of one key never overlap, while different keys run side by side. What one
 * record's writes need (its applies, its status writes, its env changes) when they read the record and then write it.
 * A key is forgotten as soon as its chain is idle: nothing is kept per key beyond the work in flight.
 */
export class KeyedChain {
  /** Per key, the end of the last work chained (never rejects). */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` after the work chained before it for `key`; answers what `work` answers. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(key) ?? Promise.resolve()).then(work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }

  /** Resolves once no work of `key` runs or waits (work chained meanwhile included); at once when none does. */
  async settled(key: string): Promise<void> {
    for (let tail = this.#tails.get(key); tail !== undefined; tail = this.#tails.get(key)) await tail;
  }

  /** Resolves once every work chained now, for any key, has ended. */
  async allSettled(): Promise<void> {
    await Promise.all(this.#tails.values());
  }

  /** How many keys have work running or waiting. */
  get size(): number {
    return this.#tails.size;
  }
}
