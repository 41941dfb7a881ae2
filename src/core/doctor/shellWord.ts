import { shellQuote } from '../util/shellQuote';

/** A path as a fix shows it: bare when the shell reads it as one word, quoted otherwise. */
export function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : shellQuote(value);
}
