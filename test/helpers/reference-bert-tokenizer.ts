// An independent BERT tokenizer written from Google BERT's tokenization.py (BasicTokenizer + WordpieceTokenizer),
// used only as a test oracle for lib/data/tokenizer.ts, which runs HuggingFace's `tokenizers` engine.

const isWhitespace = (ch: string) => ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || /\p{Zs}/u.test(ch);
const isControl = (ch: string) => ch !== "\t" && ch !== "\n" && ch !== "\r" && /\p{C}/u.test(ch);
function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0) as number;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return /\p{P}/u.test(ch);
}
function isChinese(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function basicTokenize(text: string, lowerCase: boolean): string[] {
  let cleaned = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    const c = isWhitespace(ch) ? " " : ch;
    cleaned += isChinese(cp) ? ` ${c} ` : c;
  }
  const out: string[] = [];
  for (let token of cleaned.split(" ").filter((t) => t.length > 0)) {
    if (lowerCase)
      token = token
        .toLowerCase()
        .normalize("NFD")
        .replace(/\p{Mn}/gu, "");
    let current = "";
    for (const ch of token) {
      if (isPunctuation(ch)) {
        if (current) out.push(current);
        out.push(ch);
        current = "";
      } else current += ch;
    }
    if (current) out.push(current);
  }
  return out;
}

function wordPiece(word: string, vocab: Map<string, number>, unk: number): number[] {
  const chars = [...word];
  if (chars.length > 100) return [unk];
  const ids: number[] = [];
  let start = 0;
  while (start < chars.length) {
    let end = chars.length;
    let found: number | undefined;
    while (start < end) {
      const piece = (start > 0 ? "##" : "") + chars.slice(start, end).join("");
      found = vocab.get(piece);
      if (found !== undefined) break;
      end--;
    }
    if (found === undefined) return [unk];
    ids.push(found);
    start = end;
  }
  return ids;
}

export function referenceTokenize(text: string, vocab: Map<string, number>, lowerCase: boolean): number[] {
  const unk = vocab.get("[UNK]") as number;
  return basicTokenize(text, lowerCase).flatMap((w) => wordPiece(w, vocab, unk));
}
