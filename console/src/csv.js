// Watched addresses as text: one `address` or `address,label` per line, an optional `address,label`
// header line, blank lines ignored. Every line is checked before anything is sent.
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const MAX_LABEL = 200;

function unquote(text) {
  const trimmed = text.trim();
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    return trimmed.slice(1, -1).replace(/""/g, '"');
  }
  return trimmed;
}

// {rows: [{address, label}], lines: [line number of each row], errors: [{line, message}]}
export function parseAddresses(text) {
  const rows = [];
  const lines = [];
  const errors = [];
  const all = text.split(/\r\n|\n|\r/);
  for (let index = 0; index < all.length; index += 1) {
    const line = all[index].replace(/^\uFEFF/, "");
    if (!line.trim()) continue;
    const comma = line.indexOf(",");
    const address = unquote(comma < 0 ? line : line.slice(0, comma));
    const label = comma < 0 ? null : unquote(line.slice(comma + 1));
    if (rows.length === 0 && errors.length === 0 && address.toLowerCase() === "address") continue;
    if (!ADDRESS.test(address)) {
      errors.push({ line: index + 1, message: "not an address (0x and 40 hex digits)" });
    } else if (label !== null && label.length > MAX_LABEL) {
      errors.push({ line: index + 1, message: `label longer than ${MAX_LABEL} characters` });
    } else {
      rows.push(label ? { address, label } : { address });
      lines.push(index + 1);
    }
  }
  return { rows, lines, errors };
}

export function describeErrors(errors, shown = 10) {
  const first = errors.slice(0, shown).map((e) => `line ${e.line}: ${e.message}`).join("; ");
  const more = errors.length > shown ? ` (and ${errors.length - shown} more)` : "";
  return `${errors.length} bad line${errors.length === 1 ? "" : "s"}, nothing sent: ${first}${more}`;
}
