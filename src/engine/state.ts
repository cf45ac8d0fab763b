/**
 * The engine's state as a snapshot holds it: small values as JSON, bulk numbers as typed arrays.
 * src/store encodes this (header, checksums, compression, encryption); here it is only shape.
 * JSON cannot hold infinities or NaN: `num` writes -Infinity as null and +Infinity as
 * "Infinity", and `unnum` reads them back.
 */
export type StateArray = Float64Array | Float32Array | Uint32Array | Uint8Array;

export interface StateParts {
  json: Record<string, unknown>;
  arrays: Record<string, StateArray>;
}

export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}

export function num(x: number): number | null | 'Infinity' {
  if (Number.isFinite(x)) return x;
  if (x === Number.NEGATIVE_INFINITY) return null;
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  return Number.NaN;
}

export function unnum(x: unknown): number {
  if (x === null) return Number.NEGATIVE_INFINITY;
  if (x === 'Infinity') return Number.POSITIVE_INFINITY;
  if (typeof x !== 'number') throw new StateError(`expected a number, got ${typeof x}`);
  return x;
}

/** Moves every array of `inner` into `out` under `prefix.`, and returns inner's JSON. */
export function nest(out: StateParts, prefix: string, inner: StateParts): Record<string, unknown> {
  for (const [k, v] of Object.entries(inner.arrays)) out.arrays[`${prefix}.${k}`] = v;
  return inner.json;
}

/** The arrays under `prefix.`, with their names without it. */
export function unnest(parts: StateParts, prefix: string, json: unknown): StateParts {
  const arrays: Record<string, StateArray> = {};
  for (const [k, v] of Object.entries(parts.arrays))
    if (k.startsWith(`${prefix}.`)) arrays[k.slice(prefix.length + 1)] = v;
  if (typeof json !== 'object' || json === null) throw new StateError(`state: "${prefix}" is missing`);
  return { json: json as Record<string, unknown>, arrays };
}

export function arr<T extends StateArray>(parts: StateParts, name: string, kind: new (n: number) => T): T {
  const a = parts.arrays[name];
  if (!(a instanceof kind)) throw new StateError(`state: array "${name}" is missing or of the wrong type`);
  return a as T;
}

export function strs(json: Record<string, unknown>, name: string): (string | null)[] {
  const a = json[name];
  if (!Array.isArray(a) || !a.every((s) => s === null || typeof s === 'string'))
    throw new StateError(`state: "${name}" is not a list of strings`);
  return a as (string | null)[];
}
