// Recomputing the audit hash chain on the client (docs/PROTOCOL.md, "Audit"):
// anyone holding the records can check them without trusting the server's
// own verification.

import { sha256, toHex, utf8, concat } from "./bytes.js";
import type { AuditRecord } from "./types.js";

/**
 * The canonical JSON of a record, as the server hashes it under the record's
 * version `v`: these fields in this order, compact, strings escaped as Go's
 * encoding/json escapes them (`<`, `>`, `&`, U+2028 and U+2029 as \u escapes).
 * Version 1 (or a record without `v`) covers the fields up to `request_id`;
 * version 2 adds `photo_id`, `share_id` and `device` before `prev_hash`.
 * Returns undefined for a version this client does not know.
 */
export function canonicalAuditJson(r: AuditRecord): string | undefined {
  const version = r.v ?? 1;
  if (version !== 0 && version !== 1 && version !== 2) return undefined;
  const head = {
    v: version === 2 ? 2 : 1,
    patient_id: r.patient_id,
    seq: r.seq,
    at: r.at,
    actor_id: r.actor_id,
    actor_role: r.actor_role,
    action: r.action,
    resource_type: r.resource_type,
    resource_id: r.resource_id,
    outcome: r.outcome,
    reason: r.reason ?? "",
    source_ip: r.source_ip,
    user_agent: r.user_agent,
    request_id: r.request_id,
  };
  const json = JSON.stringify(
    version === 2
      ? { ...head, photo_id: r.photo_id ?? "", share_id: r.share_id ?? "", device: r.device ?? "", prev_hash: r.prev_hash }
      : { ...head, prev_hash: r.prev_hash },
  );
  return json.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/**
 * The hex SHA-256 of "medshare/v1/audit" 0x00 and the record's canonical JSON
 * (the prefix is the same for every version: the "v" member tells them
 * apart). A record of an unknown version, or a version 1 record that shows
 * fields only version 2 covers, has no hash: "" (which no stored hash equals).
 */
export async function auditRecordHash(r: AuditRecord): Promise<string> {
  if ((r.v ?? 1) < 2 && (r.photo_id || r.share_id || r.device)) return "";
  const json = canonicalAuditJson(r);
  if (json === undefined) return "";
  return toHex(await sha256(concat(utf8("medshare/v1/audit"), Uint8Array.of(0), utf8(json))));
}

/** One problem {@link verifyAuditRecords} found. */
export interface AuditProblem {
  patient_id: string;
  seq: number;
  problem: "hash_mismatch" | "broken_link";
}

/** What {@link verifyAuditRecords} found. */
export interface AuditCheck {
  /** No record's hash or link is wrong. */
  valid: boolean;
  /** Records whose hash was recomputed. */
  checked: number;
  /** Links between consecutive records (seq n, n+1 of one patient) that were checked. */
  links: number;
  /** Records that cannot be recomputed: a professional's denied records hide the patient id. */
  unverifiable: number;
  problems: AuditProblem[];
}

/**
 * Recomputes the hash of every record and checks the links between
 * consecutive records of each patient's chain (`prev_hash` of seq n+1 = `hash`
 * of seq n). Pass the records of `GET /v1/audit`, any number of pages, in any
 * order. Gaps in the sequence are not checked (a page or a professional's view
 * holds part of a chain); the server's `GET /v1/audit/verify` checks the whole
 * chain and its head.
 */
export async function verifyAuditRecords(records: readonly AuditRecord[]): Promise<AuditCheck> {
  const out: AuditCheck = { valid: true, checked: 0, links: 0, unverifiable: 0, problems: [] };
  const chains = new Map<string, AuditRecord[]>();
  for (const r of records) {
    if (!r.patient_id) {
      out.unverifiable++;
      continue;
    }
    out.checked++;
    if ((await auditRecordHash(r)) !== r.hash) {
      out.problems.push({ patient_id: r.patient_id, seq: r.seq, problem: "hash_mismatch" });
    }
    let c = chains.get(r.patient_id);
    if (!c) chains.set(r.patient_id, (c = []));
    c.push(r);
  }
  for (const [patient, chain] of chains) {
    chain.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < chain.length; i++) {
      const prev = chain[i - 1]!;
      const cur = chain[i]!;
      if (cur.seq !== prev.seq + 1) continue;
      out.links++;
      if (cur.prev_hash !== prev.hash) out.problems.push({ patient_id: patient, seq: cur.seq, problem: "broken_link" });
    }
    if (chain[0]!.seq === 1 && chain[0]!.prev_hash !== "") {
      out.problems.push({ patient_id: patient, seq: 1, problem: "broken_link" });
    }
  }
  out.valid = out.problems.length === 0;
  return out;
}
