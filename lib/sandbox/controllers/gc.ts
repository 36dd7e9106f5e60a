/**
 * The garbage collector: when an owner goes (Background or Foreground deletion), its dependents (objects with an
 * ownerReference to its uid) are deleted, unless another owner of theirs still exists, in which case only the
 * dangling reference is removed. An owner held by the `foregroundDeletion` finalizer loses it once its dependents
 * are gone; the `orphan` finalizer strips the references from dependents first.
 */
import type { KubeObject } from "../types.ts";
import { copy, deleteQuietly, isNotFound, type Context, type Controller, type ObjectRef } from "./runtime.ts";

const FOREGROUND = "foregroundDeletion";
const ORPHAN = "orphan";

function encode(ref: ObjectRef): string {
  return `${ref.resource}|${ref.namespace ?? ""}|${ref.name}`;
}
function decode(key: string): ObjectRef {
  const [resource = "", namespace = "", name = ""] = key.split("|");
  return { resource, namespace: namespace || undefined, name };
}

export function garbageCollector(ctx: Context): Controller {
  const name = "gc";
  const OWNER = "gc-owner";

  /** Does the object an ownerReference names still exist with that uid (and is it not being deleted in foreground)? */
  function ownerAlive(
    dependent: KubeObject,
    ref: { apiVersion: string; kind: string; name: string; uid: string },
  ): boolean {
    const type = ctx.store.types.byKind(ref.apiVersion, ref.kind);
    if (!type) return false;
    const owner = ctx.store.getRef(type.key, type.namespaced ? dependent.metadata.namespace : undefined, ref.name);
    return owner !== undefined && owner.metadata.uid === ref.uid;
  }

  /** Looks at one dependent: delete it, or drop its dangling references. */
  function reconcileDependent(key: string): void {
    const ref = decode(key);
    const obj = ctx.store.getRef(ref.resource, ref.namespace, ref.name);
    if (!obj || obj.metadata.deletionTimestamp !== undefined) return;
    const refs = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const alive = refs.filter((r) => ownerAlive(obj, r));
    if (alive.length === refs.length) return;
    if (alive.length === 0) {
      deleteQuietly(ctx.store, ref.resource, ref.namespace, ref.name, "Background");
      return;
    }
    const next = copy(obj);
    next.metadata.ownerReferences = alive;
    try {
      ctx.store.update(ref.resource, next);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** An owner being deleted with the foregroundDeletion or orphan finalizer. */
  function reconcileOwner(key: string): void {
    const ref = decode(key);
    const owner = ctx.store.getRef(ref.resource, ref.namespace, ref.name);
    if (!owner || owner.metadata.deletionTimestamp === undefined) return;
    const finalizers = owner.metadata.finalizers ?? [];
    const uid = owner.metadata.uid ?? "";
    const dependents = ctx.cache.dependents(uid);
    if (finalizers.includes(ORPHAN)) {
      for (const dep of dependents) {
        const obj = ctx.store.getRef(dep.resource, dep.namespace, dep.name);
        if (!obj) continue;
        const next = copy(obj);
        next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        ctx.store.update(dep.resource, next);
      }
      return removeFinalizer(ref, ORPHAN);
    }
    if (finalizers.includes(FOREGROUND)) {
      for (const dep of dependents) {
        const obj = ctx.store.getRef(dep.resource, dep.namespace, dep.name);
        if (!obj || obj.metadata.deletionTimestamp !== undefined) continue;
        const others = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid && ownerAlive(obj, r));
        if (others.length > 0) {
          const next = copy(obj);
          next.metadata.ownerReferences = others;
          ctx.store.update(dep.resource, next);
        } else {
          deleteQuietly(ctx.store, dep.resource, dep.namespace, dep.name, "Foreground");
        }
      }
      if (ctx.cache.dependents(uid).length === 0) removeFinalizer(ref, FOREGROUND);
    }
  }

  function removeFinalizer(ref: ObjectRef, finalizer: string): void {
    const obj = ctx.store.getRef(ref.resource, ref.namespace, ref.name);
    if (!obj) return;
    const next = copy(obj);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    try {
      ctx.store.update(ref.resource, next);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  ctx.queue.register(OWNER, reconcileOwner);

  return {
    name,
    onEvent(ev): void {
      const meta = ev.object.metadata;
      const uid = meta.uid ?? "";
      const self = { resource: ev.resource.key, namespace: meta.namespace, name: meta.name };
      if (ev.type === "DELETED") {
        for (const dep of ctx.cache.dependents(uid)) ctx.queue.add(name, encode(dep));
        // A dependent went: an owner waiting in foreground deletion may now be free to go.
        for (const owner of meta.ownerReferences ?? []) {
          const type = ctx.store.types.byKind(owner.apiVersion, owner.kind);
          if (!type) continue;
          const o = ctx.store.getRef(type.key, type.namespaced ? meta.namespace : undefined, owner.name);
          if (o?.metadata.deletionTimestamp !== undefined && (o.metadata.finalizers ?? []).includes(FOREGROUND)) {
            ctx.queue.add(
              OWNER,
              encode({ resource: type.key, namespace: o.metadata.namespace, name: o.metadata.name }),
            );
          }
        }
        return;
      }
      if (meta.deletionTimestamp !== undefined) {
        const f = meta.finalizers ?? [];
        if (f.includes(FOREGROUND) || f.includes(ORPHAN)) ctx.queue.add(OWNER, encode(self));
      }
    },
    reconcile: reconcileDependent,
    resync(): void {
      // Dependents whose owners vanished while nothing ran (state loaded from a file).
      for (const type of ctx.store.types.all()) {
        if (!type.verbs.includes("list") || type.group === "metrics.k8s.io") continue;
        for (const obj of ctx.store.listRefs(type.key)) {
          if ((obj.metadata.ownerReferences ?? []).length > 0)
            ctx.queue.add(
              name,
              encode({ resource: type.key, namespace: obj.metadata.namespace, name: obj.metadata.name }),
            );
          const f = obj.metadata.finalizers ?? [];
          if (obj.metadata.deletionTimestamp !== undefined && (f.includes(FOREGROUND) || f.includes(ORPHAN)))
            ctx.queue.add(
              OWNER,
              encode({ resource: type.key, namespace: obj.metadata.namespace, name: obj.metadata.name }),
            );
        }
      }
    },
  };
}
