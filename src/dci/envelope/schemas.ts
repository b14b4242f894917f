import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { DciError } from '../../http/errors.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const SCHEMAS_DIR = fileURLToPath(new URL('../../../schemas/', import.meta.url));
const BASE = 'https://dci-gateway.org/schemas/';

/** Our JSON Schemas of the DCI messages, by file name (the contract as files; also fed to the OpenAPI document). */
export const dciSchemas: Record<string, Record<string, unknown>> = Object.fromEntries(
  readdirSync(SCHEMAS_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => [f, JSON.parse(readFileSync(SCHEMAS_DIR + f, 'utf8'))]),
);

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: false, coerceTypes, strict: false });
  addFormats(ajv);
  for (const schema of Object.values(dciSchemas)) ajv.addSchema(schema);
  return ajv;
}

/** Input side: liberal (numeric strings coerced, DIGEST 11.4). */
const inputAjv = makeAjv(true);
/** Output side: exact, used by tests and the conformance kit to check what we emit. */
const outputAjv = makeAjv(false);

export function inputValidator(file: string): ValidateFunction {
  return inputAjv.getSchema(BASE + file) ?? fail(file);
}
export function outputValidator(file: string): ValidateFunction {
  return outputAjv.getSchema(BASE + file) ?? fail(file);
}
function fail(file: string): never {
  throw new Error(`unknown schema ${file}`);
}

export function describeSchemaError(e: ErrorObject | undefined): string {
  if (!e) return 'invalid message';
  const at = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'body';
  if (e.keyword === 'required') return `${at === 'body' ? '' : at + '.'}${(e.params as { missingProperty: string }).missingProperty}: is required`;
  if (e.keyword === 'enum') return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `${at}: ${e.message ?? 'is invalid'}`;
}

/** Validates (and coerces, in place) an incoming DCI message; 400 err.request.bad naming the first problem. */
export function assertValid(validate: ValidateFunction, body: unknown): void {
  if (!validate(body)) throw new DciError(400, 'err.request.bad', describeSchemaError(validate.errors?.[0]));
}
