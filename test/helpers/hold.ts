/**
 * Holds the next call of `target[name]` (a service's method, looked up on the service at each call): that call waits
 * until `release()` and then runs the real method, or, with `answerHeld`, runs it at once and holds its answer. Calls
 * after it are not held. For tests that make two things race in a chosen order.
 */
export function holdNextCall(
  target: object,
  name: string,
  options: { answerHeld?: boolean } = {},
): { release(): void } {
  const methods = target as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const real = methods[name];
  if (typeof real !== "function") throw new Error(`no method '${name}' to hold`);
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  methods[name] = async (...args: unknown[]) => {
    methods[name] = real;
    if (options.answerHeld !== true) {
      await held;
      return real(...args);
    }
    const answer = await real(...args);
    await held;
    return answer;
  };
  return { release: () => release() };
}
