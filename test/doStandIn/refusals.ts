/** A request the real API would refuse, with the status and error id it would answer. */
export class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

export const refuse = (message: string) => new ApiRefusal(422, 'unprocessable_entity', message);
export const missing = (what: string) => new ApiRefusal(404, 'not_found', `The ${what} you were accessing could not be found.`);

/** A time as DigitalOcean writes it: ISO 8601 to the second. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const TAG_NAME = /^[a-zA-Z0-9_\-:]+$/;

/** The tags of a request, refused as DigitalOcean refuses them; duplicates dropped. */
export function validTags(tags: unknown): string[] {
  if (tags === undefined || tags === null) return [];
  if (!Array.isArray(tags) || !tags.every((tag): tag is string => typeof tag === 'string')) throw refuse('tags must be a list of strings.');
  for (const tag of tags) {
    if (tag.length > 255 || !TAG_NAME.test(tag)) throw refuse(`Tag "${tag}" is invalid: tags may contain letters, numbers, colons, dashes and underscores.`);
  }
  return [...new Set(tags)];
}
