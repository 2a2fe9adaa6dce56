// Runs graphql-http's audit suite against the GraphQL endpoint given as the first argument and
// prints one JSON object: {"ok": n, "warn": n, "error": n, "results": [{id, name, status, reason}]}.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs http://127.0.0.1:PORT/graphql");
  process.exit(2);
}
const results = await auditServer({ url });
const counts = { ok: 0, warn: 0, error: 0 };
const listed = [];
for (const result of results) {
  counts[result.status] += 1;
  listed.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === "ok" ? null : result.reason,
  });
}
console.log(JSON.stringify({ ...counts, results: listed }));
