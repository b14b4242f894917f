/**
 * GET /docs: an API reference page rendered on the server from the OpenAPI document. No script and no CDN: a
 * registry deployed on a closed government network must serve its documentation offline.
 */

type Doc = {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, { summary?: string; description?: string; tags?: string[]; requestBody?: any; responses?: Record<string, any> }>>;
};

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function schemaLabel(content: any): string {
  const schema = content?.['application/json']?.schema ?? content?.['application/x-www-form-urlencoded']?.schema;
  if (!schema) return '';
  if (schema.$ref) return schema.$ref.split('/').pop();
  return schema.type ?? '';
}

export function renderDocsPage(doc: Doc): string {
  const groups = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = op.tags?.[0] ?? 'Other';
      const responses = Object.entries(op.responses ?? {})
        .map(([code, r]) => `<li><code>${esc(code)}</code> ${esc(r.description)} ${schemaLabel(r.content) ? `<em>${esc(schemaLabel(r.content))}</em>` : ''}</li>`)
        .join('');
      const body = op.requestBody ? `<p>Request body: <em>${esc(schemaLabel(op.requestBody.content))}</em></p>` : '';
      const html = `<section><h3><span class="m">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
        <p><strong>${esc(op.summary)}</strong></p><p>${esc(op.description)}</p>${body}<ul>${responses}</ul></section>`;
      groups.set(tag, [...(groups.get(tag) ?? []), html]);
    }
  }
  const sections = [...groups].map(([tag, ops]) => `<h2>${esc(tag)}</h2>${ops.join('')}`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)} API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}section{border-top:1px solid #ddd;padding:.5em 0}
.m{display:inline-block;min-width:4em;font-size:.8em;background:#0b5;color:#fff;padding:2px 6px;border-radius:3px}</style></head>
<body><h1>${esc(doc.info.title)} <small>${esc(doc.info.version)}</small></h1><p>${esc(doc.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.0).</p>${sections}</body></html>`;
}
