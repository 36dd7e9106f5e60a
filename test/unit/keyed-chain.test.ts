import { describe, expect, it } from "@jest/globals";
import { KeyedChain } from "../../lib/keyed-chain.ts";

/** A work that waits until `open()` is called, and says when it started and ended. */
function gate(name: string, log: string[]): { work: () => Promise<string>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    work: async () => {
      log.push(`${name} start`);
      await opened;
      log.push(`${name} end`);
      return name;
    },
    open: () => open(),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("KeyedChain", () => {
  it("runs the works of one key one after another, in the order given", async () => {
    const chain = new KeyedChain();
    const log: string[] = [];
    const a = gate("a", log);
    const b = gate("b", log);
    const ra = chain.run("k", a.work);
    const rb = chain.run("k", b.work);
    await turn();
    expect(log).toEqual(["a start"]);
    b.open(); // b may not start before a has ended, open or not
    await turn();
    expect(log).toEqual(["a start"]);
    a.open();
    await expect(ra).resolves.toBe("a");
    await expect(rb).resolves.toBe("b");
    expect(log).toEqual(["a start", "a end", "b start", "b end"]);
  });

  it("runs the works of different keys side by side", async () => {
    const chain = new KeyedChain();
    const log: string[] = [];
    const a = gate("a", log);
    const b = gate("b", log);
    const ra = chain.run("one", a.work);
    const rb = chain.run("two", b.work);
    await turn();
    expect(log).toEqual(["a start", "b start"]);
    b.open();
    await expect(rb).resolves.toBe("b");
    a.open();
    await expect(ra).resolves.toBe("a");
  });

  it("answers a work's failure to its caller only, and runs the next work anyway", async () => {
    const chain = new KeyedChain();
    const failing = chain.run("k", () => Promise.reject(new Error("refused")));
    const next = chain.run("k", () => Promise.resolve("next"));
    await expect(failing).rejects.toThrow("refused");
    await expect(next).resolves.toBe("next");
  });

  it("settles a key once its works, those chained meanwhile included, have ended; at once for an idle key", async () => {
    const chain = new KeyedChain();
    await chain.settled("idle");
    const log: string[] = [];
    const a = gate("a", log);
    const b = gate("b", log);
    void chain.run("k", a.work);
    let settled = false;
    const waiting = chain.settled("k").then(() => (settled = true));
    void chain.run("k", b.work);
    a.open();
    await turn();
    expect(settled).toBe(false); // b still runs
    b.open();
    await waiting;
    expect(log).toEqual(["a start", "a end", "b start", "b end"]);
  });

  it("forgets a key once its chain is idle", async () => {
    const chain = new KeyedChain();
    await Promise.all([chain.run("a", async () => 1), chain.run("b", async () => 2)]);
    await turn();
    expect(chain.size).toBe(0);
    const log: string[] = [];
    const g = gate("g", log);
    void chain.run("c", g.work);
    expect(chain.size).toBe(1);
    g.open();
    await chain.allSettled();
    await turn();
    expect(chain.size).toBe(0);
  });
});
