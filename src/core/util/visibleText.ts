/**
 * Text from a sandbox or a droplet made safe for a terminal or an editor. Everything from inside
 * is hostile: an escape sequence can move the cursor, rewrite earlier lines or change the
 * window's title; U+2028/2029 end a line where the reader sees none; bidi overrides and isolates
 * make text read in another order than it runs. Each is shown as an escape instead: `\x1b`,
 * `\u2028`, `\u202e`. Tab and newline stay.
 */

/** C0 controls but tab and newline, DEL, C1 controls. */
const CONTROLS = '\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f';
/** Line and paragraph separators, the bidi marks, embeddings, overrides and isolates. */
const INVISIBLE_LAYOUT = '\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const UNSAFE = new RegExp(`[${CONTROLS}${INVISIBLE_LAYOUT}]`, 'g');

export function visibleText(text: string): string {
  return text.replace(UNSAFE, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** One line of hostile text, cut to `maxChars` (a `…` says so) and made visible. */
export function visibleLine(text: string, maxChars: number): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  return visibleText(cut);
}
