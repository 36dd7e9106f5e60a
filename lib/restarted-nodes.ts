/**
 * A broker middleware: calls in flight to a node that has restarted are rejected as soon as the restart is seen, so
 * that the broker's retry policy resends them at once instead of after `requestTimeout` (30 s).
 *
 * Why: a node killed without saying goodbye (SIGKILL, OOM, a crashed container) sends no DISCONNECT packet, so the
 * other nodes keep its calls pending. Moleculer drops them when it gives the node up (heartbeat timeout), but a node
 * restarted under the same nodeID — a container restarted in its pod (NODE_ID is the pod's name, deploy/50-suite.yaml)
 * or in docker-compose — comes back first, and moleculer then only updates its registry entry: each call the old
 * process had taken waited the whole timeout before the retry (docs/reliability.md: 31 s to converge after a
 * services node was killed).
 *
 * Which calls: a new `instanceID` in a node's INFO means its process was started again. The new process announces
 * itself with a DISCOVER packet once it listens for requests, and sends its INFO only after its services have started:
 * in between, calls sent to its nodeID reach it and are answered by it. So only the calls sent before the first
 * DISCOVER from that nodeID since its previous INFO (less a margin for a packet overtaken on the way) are rejected,
 * with moleculer's RequestRejectedError (retryable, as when a node disconnects); the later ones wait for their answer.
 * The first one, because a node also sends DISCOVERs later, to each node it learns of; one from the old process
 * only moves the mark earlier, which rejects fewer calls, never one the new process has. Stream calls are left to the
 * timeout.
 * A create retried this way is answered with the record its first attempt stored (the db mixin's `_request`).
 */
import { performance } from "node:perf_hooks";
import { Errors, type Middleware, type ServiceBroker } from "moleculer";

/** A call sent this little before the restarted node's DISCOVER arrived may have reached the new process: kept. */
export const DISCOVER_MARGIN_MS = 100;

/** One entry of moleculer's transit.pendingRequests (internal, not in its typings). */
interface PendingRequest {
  action?: { name?: string };
  nodeID?: string;
  stream?: boolean;
  reject(err: Error): void;
}

/** The parts of moleculer's transit and registry this uses (internal, not in its typings). */
interface BrokerInternals {
  transit?: { pendingRequests: Map<string, PendingRequest> };
  registry: { nodes: { get(nodeID: string): { instanceID?: unknown } | undefined } };
}

interface Packet {
  type?: string;
  payload?: { id?: unknown; sender?: unknown; instanceID?: unknown };
}

type MessageHandler = (cmd: string, packet: Packet) => unknown;
type Publish = (packet: Packet) => unknown;

/** A new middleware for one broker (brokerOptions() makes one per broker). */
export function restartedNodesMiddleware(): Middleware {
  let broker: ServiceBroker | undefined;
  let internals: BrokerInternals | undefined;
  /** When each pending call was last sent (a retry is sent again), by moleculer's pending-request entry. */
  const sentAt = new WeakMap<PendingRequest, number>();
  /** When the first DISCOVER from each nodeID since its last INFO arrived. */
  const discoveredAt = new Map<string, number>();

  function rejectCallsSentBefore(nodeID: string, before: number): void {
    const pending = internals?.transit?.pendingRequests;
    if (pending === undefined) return;
    let rejected = 0;
    for (const [id, request] of pending) {
      const sent = sentAt.get(request);
      if (request.nodeID !== nodeID || request.stream === true || sent === undefined || sent >= before) continue;
      pending.delete(id);
      rejected += 1;
      request.reject(new Errors.RequestRejectedError({ action: request.action?.name ?? "", nodeID }));
    }
    broker
      ?.getLogger("restarted-nodes")
      .info(`Node '${nodeID}' restarted: ${rejected} call(s) sent to its old process rejected, to be retried.`);
  }

  const transitPublish = (next: Publish): Publish =>
    function (this: unknown, packet) {
      const id = packet.payload?.id;
      if (packet.type === "REQ" && typeof id === "string") {
        const request = internals?.transit?.pendingRequests.get(id);
        if (request !== undefined) sentAt.set(request, performance.now());
      }
      return next.call(this, packet);
    };

  const transitMessageHandler = (next: MessageHandler): MessageHandler =>
    function (this: unknown, cmd, packet) {
      const sender = packet.payload?.sender;
      if (broker !== undefined && typeof sender === "string" && sender !== broker.nodeID) {
        if (cmd === "DISCOVER" && !discoveredAt.has(sender)) discoveredAt.set(sender, performance.now());
        const instanceID = packet.payload?.instanceID;
        if (cmd === "INFO" && typeof instanceID === "string") {
          const known = internals?.registry.nodes.get(sender)?.instanceID;
          const discovered = discoveredAt.get(sender);
          discoveredAt.delete(sender);
          // Before moleculer registers the new process's services: no call for them is pending yet.
          if (typeof known === "string" && known !== instanceID && discovered !== undefined) {
            rejectCallsSentBefore(sender, discovered - DISCOVER_MARGIN_MS);
          }
        }
      }
      return next.call(this, cmd, packet);
    };

  return {
    name: "RestartedNodes",
    created(b: ServiceBroker) {
      broker = b;
      internals = b as unknown as BrokerInternals;
    },
    // moleculer's typings give these hooks the handler's return type; they return the wrapped handler.
    transitPublish: transitPublish as unknown as NonNullable<Middleware["transitPublish"]>,
    transitMessageHandler: transitMessageHandler as unknown as NonNullable<Middleware["transitMessageHandler"]>,
  };
}
