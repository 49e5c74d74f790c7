/**
 * `@medshare/client`: MedShare's wire protocol (docs/PROTOCOL.md) in
 * TypeScript, for browsers and Node 20. See README.md for a walkthrough.
 *
 * @packageDocumentation
 */

export * from "./audit.js";
export { fromBase64, toBase64, toHex, sha256, type Bytes } from "./bytes.js";
export * from "./cache.js";
export * from "./client.js";
export * from "./device.js";
export * from "./devicestore.js";
export * from "./errors.js";
export * from "./http.js";
export * from "./photocrypto.js";
export * from "./types.js";
