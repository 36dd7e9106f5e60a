import { describe, it, expect } from "@jest/globals";
import * as clientNode from "@kubernetes/client-node";
import { MODEL_NAMED_KINDS } from "../../../lib/kube/object-api.ts";

/** What each generated model class says of its fields: `name` in the model, `baseName` on the wire. */
interface ModelClass {
  getAttributeTypeMap(): { name: string; baseName: string; type: string }[];
}

const models = clientNode as unknown as Record<string, Partial<ModelClass> | undefined>;

function modelClass(type: string): ModelClass | undefined {
  const cls = models[type];
  return typeof cls?.getAttributeTypeMap === "function" ? (cls as ModelClass) : undefined;
}

/** `Array<V1Container>` → `V1Container`; `{ [key: string]: V1Foo; }` → `V1Foo`. */
function elementType(type: string): string {
  const array = /^Array<(.*)>$/.exec(type);
  if (array !== null) return elementType(array[1] ?? "");
  const map = /^\{ \[key: string\]: (.*); \}$/.exec(type);
  if (map !== null) return elementType(map[1] ?? "");
  return type;
}

/** Whether the model `type`, or any model in its tree, names a field apart from its JSON name. */
function namesApart(type: string, path: Set<string> = new Set()): boolean {
  const cls = modelClass(elementType(type));
  if (cls === undefined || path.has(type)) return false;
  path.add(type);
  const found = cls.getAttributeTypeMap().some((a) => a.name !== a.baseName || namesApart(elementType(a.type), path));
  path.delete(type);
  return found;
}

/** Every kind of client-node's models (a model with apiVersion, kind and metadata, not a list), by its model names. */
function kindsOfModels(): Map<string, string[]> {
  const kinds = new Map<string, string[]>();
  for (const name of Object.keys(models)) {
    const fields =
      modelClass(name)
        ?.getAttributeTypeMap()
        .map((a) => a.name) ?? [];
    if (!["apiVersion", "kind", "metadata"].every((f) => fields.includes(f)) || name.endsWith("List")) continue;
    const kind = name.replace(/^V\d+((alpha|beta)\d+)?/, "");
    kinds.set(kind, [...(kinds.get(kind) ?? []), name]);
  }
  return kinds;
}

describe("MODEL_NAMED_KINDS", () => {
  it("is every appliable kind whose client-node model names a field apart from its JSON name", () => {
    const kinds = kindsOfModels();
    // The walk sees the models at all: the kinds the suite applies are among them.
    expect([...kinds.keys()]).toEqual(expect.arrayContaining(["Deployment", "ConfigMap", "LimitRange", "Ingress"]));
    const named = [...kinds]
      .filter(([kind, names]) => kind !== "Status" && names.some((n) => namesApart(n)))
      .map(([kind]) => kind)
      .sort();
    expect([...MODEL_NAMED_KINDS].sort()).toEqual(named);
  });
});
