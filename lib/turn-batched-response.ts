/**
 * The gateway's answers are written once per event-loop turn, all together, instead of each as soon as it is ready.
 *
 * Why: under concurrent load the gateway reads many requests in one turn (one poll phase) and answers each a few tens
 * of µs after the previous one. Written one by one, every answer is a socket write that finds the client asleep — it
 * read the previous answer and went back to wait — and has to wake it: on loopback the whole of that (the client's
 * TCP receive path and the wake-up of its thread on the other CPU) runs inside our `write`, and in a VM the wake-up is
 * an inter-processor interrupt through the hypervisor. Measured on the development VM (docs/performance.md, change
 * 40): the suite's socket writes took 33 µs of a 100 µs `GET /deployments/:id`, the bare gateway's 15 µs; written in
 * one burst at the end of the turn, the first answer wakes the client and the others find it awake. It is what Redis
 * does with its replies (written before the event loop sleeps again).
 *
 * The cost: an answer waits for the rest of its turn — for the other requests that arrived with it to be handled, at
 * most a few ms under the heaviest load and nothing when it is alone — and one `setImmediate` per turn.
 *
 * Semantics kept (test/unit/turn-batched-response.test.ts runs the same cases against Node's own ServerResponse):
 * `end()` returns at once as before; `headersSent` and `writableEnded` are true from the `end()` call on; any call
 * that changes the answer after it (write, writeHead, setHeader, ...) carries the waiting `end()` out first, so Node
 * refuses or reports it exactly as after a real `end()`; arguments Node refuses at `end()` are refused at the call,
 * synchronously; 'finish' and end callbacks come after the real write. Only `writableFinished` and the socket's
 * counters show the difference, until the end of the turn.
 */
import { OutgoingMessage, ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";

/** Answers whose `end()` waits for the end of this turn, in the order they were ended. */
let waiting: TurnBatchedResponse[] = [];
let flushScheduled = false;

/** Carries out every waiting `end()`. Runs in the check phase, after the poll phase that produced the answers. */
function flushWaitingEnds(): void {
  flushScheduled = false;
  const batch = waiting;
  waiting = [];
  for (const res of batch) res.endNow();
}

/** What Node's `end()` takes as a chunk (anything else it throws for, and that throw is kept synchronous). */
function isEndArgument(chunk: unknown): boolean {
  return (
    chunk === undefined ||
    chunk === null ||
    typeof chunk === "string" ||
    typeof chunk === "function" ||
    chunk instanceof Uint8Array
  );
}

const outgoing = (name: "headersSent" | "writableEnded"): ((this: OutgoingMessage) => boolean) => {
  const getter = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, name)?.get;
  if (getter === undefined) throw new TypeError(`OutgoingMessage.prototype.${name} is not a getter`);
  return getter as (this: OutgoingMessage) => boolean;
};

/**
 * A ServerResponse whose `end()` is carried out at the end of the event-loop turn (see the top of this file). Given to
 * `http.createServer({ ServerResponse: TurnBatchedResponse })`.
 */
export class TurnBatchedResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** The arguments of an `end()` that waits for the flush. */
  #pendingEnd: unknown[] | undefined = undefined;

  static {
    // The two getters Node's callers (moleculer-web's sendResponse, our sendHttpError) ask before answering: an answer
    // whose end() waits is sent as far as they are concerned.
    for (const name of ["headersSent", "writableEnded"] as const) {
      const base = outgoing(name);
      Object.defineProperty(this.prototype, name, {
        configurable: true,
        get(this: TurnBatchedResponse) {
          return this.#pendingEnd !== undefined || base.call(this);
        },
      });
    }
  }

  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    if (this.#pendingEnd !== undefined || !isEndArgument(chunk)) {
      // A second end() while one waits, or an argument Node refuses: carried out now, after the waiting one, so that
      // Node ignores, reports or refuses it as always (a refusal is thrown here, to the caller).
      this.endNow();
      return super.end(chunk, encoding as BufferEncoding, callback as () => void);
    }
    this.#pendingEnd = [chunk, encoding, callback];
    waiting.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushWaitingEnds);
    }
    return this;
  }

  // Whatever changes the answer after end(): the waiting end() first, then Node's own method, which throws or reports
  // as after any end().
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    this.endNow();
    return super.write(chunk, encoding as BufferEncoding, callback as (error: Error | null | undefined) => void);
  }

  override writeHead(statusCode: number, message?: unknown, headers?: unknown): this {
    this.endNow();
    return super.writeHead(statusCode, message as string, headers as OutgoingHttpHeaders);
  }

  override setHeader(name: string, value: number | string | readonly string[]): this {
    this.endNow();
    return super.setHeader(name, value);
  }

  override setHeaders(headers: Headers | Map<string, number | string | readonly string[]>): this {
    this.endNow();
    return super.setHeaders(headers);
  }

  override appendHeader(name: string, value: string | readonly string[]): this {
    this.endNow();
    return super.appendHeader(name, value);
  }

  override removeHeader(name: string): void {
    this.endNow();
    super.removeHeader(name);
  }

  override flushHeaders(): void {
    this.endNow();
    super.flushHeaders();
  }

  /** Carries out this answer's waiting `end()`, if any. */
  endNow(): void {
    const args = this.#pendingEnd;
    if (args === undefined) return;
    this.#pendingEnd = undefined;
    try {
      super.end(args[0], args[1] as BufferEncoding, args[2] as () => void);
    } catch (err) {
      // Whatever Node throws at end() beyond a wrong argument (a Content-Length mismatch): the caller has moved on,
      // so the answer cannot be replaced by an error answer; the connection is closed instead of left hanging.
      this.destroy(err as Error);
    }
  }
}
