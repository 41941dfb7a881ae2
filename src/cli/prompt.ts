/** One question on the terminal (asked on stderr, so stdout stays the command's output); the answer trimmed. */
export async function ask(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question(question)).trim();
  } finally {
    prompt.close();
  }
}

/** One y/N question; anything but yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  return /^y(es)?$/i.test(await ask(question));
}
