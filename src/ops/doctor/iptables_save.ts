/**
 * A reader for `iptables-save` output: per table, each built-in chain's
 * policy, the chains that exist and the rules in order, each as argv words
 * (quotes removed) and as its original line.
 *
 *   *filter
 *   :FORWARD DROP [0:0]
 *   :FLANNEL-FWD - [0:0]
 *   -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
 *   COMMIT
 */

export interface SavedRule {
  readonly chain: string;
  /** Words after `-A <chain>`, quotes removed. */
  readonly words: readonly string[];
  /** The line as iptables-save printed it. */
  readonly line: string;
}

export interface SavedTable {
  /** Built-in chains' policies ("ACCEPT", "DROP"); user chains are absent. */
  readonly policies: ReadonlyMap<string, string>;
  readonly chains: ReadonlySet<string>;
  readonly rules: readonly SavedRule[];
}

/** Splits a rule line into words the way iptables-save quotes them (double quotes, backslash escapes). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === " " || c === "\t") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Parses the whole output; tables by name ("filter", "nat", ...). */
export function parseIptablesSave(text: string): Map<string, SavedTable> {
  const tables = new Map<
    string,
    { policies: Map<string, string>; chains: Set<string>; rules: SavedRule[] }
  >();
  let cur: { policies: Map<string, string>; chains: Set<string>; rules: SavedRule[] } | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) {
      cur = { policies: new Map(), chains: new Set(), rules: [] };
      tables.set(line.slice(1), cur);
    } else if (cur === undefined || line === "" || line.startsWith("#")) {
      continue;
    } else if (line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name === undefined) continue;
      cur.chains.add(name);
      if (policy !== undefined && policy !== "-") cur.policies.set(name, policy);
    } else if (line.startsWith("-A ")) {
      const words = splitWords(line);
      const chain = words[1];
      if (chain !== undefined) cur.rules.push({ chain, words: words.slice(2), line });
    }
  }
  return tables;
}

/** The rules of `chain` in `table`, in order (empty when either is absent). */
export function chainRules(
  tables: ReadonlyMap<string, SavedTable>,
  table: string,
  chain: string,
): SavedRule[] {
  return (tables.get(table)?.rules ?? []).filter((r) => r.chain === chain);
}
