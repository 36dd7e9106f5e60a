/**
 * The namespace controller: a Terminating namespace (deletionTimestamp) has everything in it deleted, then
 * store.finalizeNamespace() removes it; objects held by finalizers keep it Terminating until they go. Each active
 * namespace gets its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap, as in a real cluster. The
 * system namespaces exist from the start.
 */
import { sha256Hex } from "./hash.ts";
import {
  R,
  deleteQuietly,
  isAlreadyExists,
  isNotFound,
  statusOfError,
  type Context,
  type Controller,
} from "./runtime.ts";

export const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
const ROOT_CA = "kube-root-ca.crt";

function fakeCertificate(): string {
  const body = Buffer.from(sha256Hex("sandbox-ca").repeat(12), "hex").toString("base64");
  const lines = body.match(/.{1,64}/g) ?? [];
  return ["-----BEGIN CERTIFICATE-----", ...lines, "-----END CERTIFICATE-----", ""].join("\n");
}

export function namespacesController(ctx: Context): Controller {
  const name = "namespaces";
  const CA = fakeCertificate();

  function ensureDefaults(ns: string): void {
    const create = (resource: string, object: Parameters<typeof ctx.store.create>[1]): void => {
      if (ctx.store.getRef(resource, ns, object.metadata.name)) return;
      try {
        ctx.store.create(resource, object);
      } catch (err) {
        // Refused while terminating, or created meanwhile: both are fine.
        const s = statusOfError(err);
        if (!isAlreadyExists(err) && s.code !== 403 && s.code !== 404) throw err;
      }
    };
    create(R.serviceAccounts, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "default", namespace: ns },
    });
    create(R.configMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: ROOT_CA,
        namespace: ns,
        annotations: {
          "kubernetes.io/description":
            "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
        },
      },
      data: { "ca.crt": CA },
    });
  }

  function terminate(ns: string): void {
    let remaining = 0;
    for (const type of ctx.store.types.all()) {
      if (!type.namespaced || !type.verbs.includes("delete") || !type.verbs.includes("list")) continue;
      for (const obj of ctx.store.listRefs(type.key, ns)) {
        remaining++;
        if (obj.metadata.deletionTimestamp !== undefined) continue;
        try {
          if (deleteQuietly(ctx.store, type.key, ns, obj.metadata.name, "Background")) {
            if (!ctx.store.getRef(type.key, ns, obj.metadata.name)) remaining--;
          } else remaining--;
        } catch (err) {
          ctx.log(`namespaces: cannot delete ${type.key} ${ns}/${obj.metadata.name}: ${statusOfError(err).message}`);
        }
      }
    }
    if (remaining > 0) return;
    try {
      ctx.store.finalizeNamespace(ns);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  function reconcile(ns: string): void {
    const obj = ctx.store.getRef(R.namespaces, undefined, ns);
    if (!obj) return;
    if (obj.metadata.deletionTimestamp !== undefined) terminate(ns);
    else ensureDefaults(ns);
  }

  return {
    name,
    onEvent(ev): void {
      const meta = ev.object.metadata;
      if (ev.resource.key === R.namespaces) {
        if (ev.type === "ADDED" || (ev.type === "MODIFIED" && meta.deletionTimestamp !== undefined))
          ctx.queue.add(name, meta.name);
        return;
      }
      const ns = meta.namespace;
      if (ns === undefined) return;
      if (ev.type === "DELETED") {
        const owner = ctx.cache.get(R.namespaces, undefined, ns);
        if (owner?.metadata.deletionTimestamp !== undefined) ctx.queue.add(name, ns);
        else if (
          owner &&
          ((ev.resource.key === R.configMaps && meta.name === ROOT_CA) ||
            (ev.resource.key === R.serviceAccounts && meta.name === "default"))
        )
          ctx.queue.add(name, ns);
      }
    },
    reconcile,
    resync(): void {
      for (const ns of SYSTEM_NAMESPACES) {
        if (ctx.store.getRef(R.namespaces, undefined, ns)) continue;
        try {
          ctx.store.create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
      }
      for (const ns of ctx.cache.list(R.namespaces)) ctx.queue.add(name, ns.metadata.name);
    },
  };
}
