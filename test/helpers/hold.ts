/**
 * Holds the next call of `target[name]` (a service's method, looked up on the service at each call), or with `when`
 * the next call whose arguments it accepts (calls before it run as they are): that call waits until `release()` and
 * then runs the real method, or, with `answerHeld`, runs it at once and holds its answer. Calls after it are not held.
 * `held` resolves with the held call's arguments once it is held; `done` once the held call has ended. For tests that
 * make two things race in a chosen order.
 */
export function holdNextCall(
  target: object,
  name: string,
  options: { answerHeld?: boolean; when?: (...args: unknown[]) => boolean } = {},
): { release(): void; held: Promise<unknown[]>; done: Promise<void> } {
  const methods = target as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const real = methods[name];
  if (typeof real !== "function") throw new Error(`no method '${name}' to hold`);
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let markHeld = (_args: unknown[]): void => undefined;
  const held = new Promise<unknown[]>((resolve) => (markHeld = resolve));
  let markDone = (): void => undefined;
  const done = new Promise<void>((resolve) => (markDone = resolve));
  methods[name] = async (...args: unknown[]) => {
    if (options.when !== undefined && !options.when(...args)) return real(...args);
    methods[name] = real;
    markHeld(args);
    try {
      if (options.answerHeld !== true) {
        await released;
        return await real(...args);
      }
      const answer = await real(...args);
      await released;
      return answer;
    } finally {
      markDone();
    }
  };
  return { release: () => release(), held, done };
}
