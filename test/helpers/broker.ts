import type { Context, Middleware } from "moleculer";

/** A broker middleware that counts the calls of each action reaching this broker's local services, into `calls`. */
export function actionCounter(calls: Map<string, number>): Middleware {
  return {
    name: "ActionCounter",
    localAction(next: (ctx: Context) => Promise<unknown>, action: { name: string }) {
      return (ctx: Context) => {
        calls.set(action.name, (calls.get(action.name) ?? 0) + 1);
        return next(ctx);
      };
    },
  } as unknown as Middleware;
}
