// Render src/openapi.d.ts from Chronos's OpenAPI document (openapi-typescript). Used by
// `npm run gen` (scripts/gen-types.mjs) and by the drift test, so both render alike.

import openapiTS, { astToString } from 'openapi-typescript';

export const HEADER =
  "// Generated from Chronos's /openapi.json by `npm run gen` (scripts/gen-types.mjs).\n" +
  "// Do not edit: the tests fail when this file differs from the running server's API.\n\n";

/**
 * @param {object} spec the parsed /openapi.json
 * @returns {Promise<string>} the TypeScript declarations
 */
export async function renderTypes(spec) {
  // defaultNonNullable: false keeps fields with a server-side default optional in requests.
  const ast = await openapiTS(/** @type {any} */ (spec), { defaultNonNullable: false });
  return HEADER + astToString(ast);
}
