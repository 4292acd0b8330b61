// Certificate fingerprints as people compare them: AB:CD:EF:...

/** Normalises any hex form (with or without colons, any case) to `AB:CD:…`. */
export function formatFingerprint(input: string): string {
  const hex = input.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
  const pairs = hex.match(/.{1,2}/g) ?? [];
  return pairs.join(':');
}

/** The fingerprint in rows of `perRow` bytes, for a readable block. */
export function fingerprintRows(input: string, perRow = 8): string[] {
  const pairs = formatFingerprint(input).split(':').filter((p) => p.length > 0);
  const rows: string[] = [];
  for (let i = 0; i < pairs.length; i += perRow) rows.push(pairs.slice(i, i + perRow).join(':'));
  return rows;
}
