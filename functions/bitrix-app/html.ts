/** What every page of the app inside Bitrix24 shares: escaping, the frame script, the look. */

export const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/**
 * Close to Bitrix24's own look (its light grey canvas, white panels, the blue primary button), in plain
 * CSS: the page needs no framework, and every control is a native one a screen reader knows.
 */
const STYLE = `
:root{color-scheme:light;--ink:#333;--muted:#6a737f;--line:#dfe0e3;--blue:#2fc6f6;--blue-ink:#0b66c3;--red:#c0392b}
*{box-sizing:border-box}
body{margin:0;padding:16px;background:#eef2f4;color:var(--ink);font:14px/1.45 "Helvetica Neue",Arial,sans-serif}
h1{font-size:22px;font-weight:400;margin:0 0 12px}
h2{font-size:17px;font-weight:600;margin:0 0 8px}
.panel{background:#fff;border-radius:12px;padding:16px 20px;margin:0 0 14px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 12px}
dt{color:var(--muted)}dd{margin:0}
fieldset{border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin:0}
legend{padding:0 6px;color:var(--muted)}
.row{display:flex;flex-wrap:wrap;gap:10px 24px;align-items:flex-end}
label{display:inline-flex;flex-direction:column;gap:3px}
label.check{flex-direction:row;align-items:center;gap:6px}
input[type=text],input[type=number],input[type=url],select,textarea{font:inherit;padding:6px 8px;border:1px solid #c6cdd3;border-radius:4px;min-width:12em}
input:focus-visible,select:focus-visible,textarea:focus-visible,button:focus-visible,a:focus-visible{outline:2px solid var(--blue-ink);outline-offset:2px}
button{font:inherit;font-weight:600;padding:7px 18px;border:0;border-radius:18px;background:var(--blue);color:#fff;cursor:pointer}
button:hover{background:#3eddff}
.field-error{color:var(--red);font-size:13px}
.error-field{margin-top:10px}
.error-field output{display:block;padding:6px 8px;border-radius:4px;background:#f5f7f8}
.error-field.refused output{background:#ffe8e8;color:var(--red)}
.status-error{color:var(--red)}
.hint{color:var(--muted);font-size:13px}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
`;

export function page(
  title: string,
  body: string,
  options: { frameScriptUrl?: string; script?: string } = {},
) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style>
${options.frameScriptUrl ? `<script src="${escapeHtml(options.frameScriptUrl)}"></script>` : ""}</head>
<body>${body}${options.script ? `<script>${options.script}</script>` : ""}</body></html>`;
}

/** A refused frame: 401 and nothing of the portal on it. */
export const REFUSED_PAGE = page("Not allowed", "<main><h1>Not allowed</h1></main>");
