import { QueryRejection } from './types.js';

export { isObject, present } from '../envelope/normalize.js';

/** Helpers for reading partner-supplied JSON without trusting its shape. */

export function reject(message: string): never {
  throw new QueryRejection('rjct.search_criteria.invalid', message);
}

/** A short, safe rendering of a partner-supplied value for a rejection message. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Own member only: never reads through the prototype (`constructor`, `__proto__`). */
export function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}
