/**
 * The sandbox image recipe (images/sandbox in the repository and in the installed
 * extension): where it is, what is in it, and the tag its content gives.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import { baseIdentity } from './base';
import { LABEL_PREFIX } from '../labels';

export const RECIPE_NAME = 'sandbox';
export const SANDBOX_IMAGE_REPOSITORY = 'agent-sandboxes/sandbox';
/** The desktop image: the sandbox image of the same version plus a desktop (images/desktop). */
export const DESKTOP_RECIPE_NAME = 'desktop';
export const DESKTOP_IMAGE_REPOSITORY = 'agent-sandboxes/desktop';
/**
 * Names another namespace for the images we build (<namespace>/sandbox, <namespace>/desktop), so
 * a trial of a build (a test, a recipe change) never touches the images in everyday use.
 */
export const IMAGE_NAMESPACE_ENV = 'AGENT_SANDBOXES_IMAGE_NAMESPACE';

/** The repository of a recipe's image: agent-sandboxes/<name>, or <namespace>/<name> when the environment names one. */
export function imageRepository(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const namespace = env[IMAGE_NAMESPACE_ENV]?.trim();
  if (!namespace) return name === DESKTOP_RECIPE_NAME ? DESKTOP_IMAGE_REPOSITORY : SANDBOX_IMAGE_REPOSITORY;
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(namespace)) {
    throw new SandboxError(
      'invalid-input',
      `${IMAGE_NAMESPACE_ENV}=${namespace} is not an image repository name; use lowercase letters, digits and . _ - / (for example my-sandboxes), or unset it.`,
    );
  }
  return `${namespace}/${name}`;
}

/** Labels we put on the images we build. */
export const IMAGE_LABELS = {
  /** The recipe hash, also the image's tag. */
  recipe: `${LABEL_PREFIX}.recipe`,
  /** The base image it was built on (a reference and, after "@", its id). */
  base: `${LABEL_PREFIX}.base`,
} as const;

export interface RecipeFile {
  /** Relative to the recipe directory, with "/" separators. */
  path: string;
  content: Buffer;
  /** Mode inside the build context: 0755 for scripts (a "#!" first line), 0644 otherwise. */
  mode: number;
}

export interface Recipe {
  dir: string;
  files: RecipeFile[];
  /** First 12 hex digits of the sha256 over the files and the base identity. */
  hash: string;
  /** agent-sandboxes/sandbox:<hash> */
  tag: string;
}

/**
 * Walks up from `start` (this module's directory by default) to the first directory that
 * holds images/<name>/Dockerfile. That covers the esbuild bundle (dist/cli.js), compiled
 * tests (out/src/core/images/*.js) and an installed extension (<ext>/dist/extension.js).
 */
export function findRecipeDir(name: string = RECIPE_NAME, start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    const candidate = path.join(dir, 'images', name);
    if (existsSync(path.join(candidate, 'Dockerfile'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new SandboxError(
    'image-missing',
    `The image recipe images/${name}/Dockerfile was not found above ${start}; reinstall Agent Sandboxes so its images folder is present.`,
  );
}

/** Every regular file below `dir`, sorted by relative path, so the order never depends on the disk. */
function listFiles(dir: string, prefix = ''): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) names.push(...listFiles(dir, relative));
    else if (entry.isFile()) names.push(relative);
  }
  return names.sort();
}

/**
 * Reads a recipe and computes its hash; no caching (see loadRecipe for that). The hash covers
 * what the recipe builds on: the Debian base for the sandbox image, the sandbox image's tag
 * for the desktop image.
 */
export function readRecipe(dir: string, options: { repository?: string; base?: string } = {}): Recipe {
  const files = listFiles(dir).map((relative): RecipeFile => {
    const content = readFileSync(path.join(dir, ...relative.split('/')));
    const script = content.length >= 2 && content[0] === 0x23 && content[1] === 0x21;
    return { path: relative, content, mode: script ? 0o755 : 0o644 };
  });
  const hash = createHash('sha256');
  const field = (data: string | Buffer) => {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    // Length first, so that no two different recipes can feed the same byte stream.
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  };
  field(`base ${options.base ?? baseIdentity()}`);
  for (const file of files) {
    field(file.path);
    field(file.content);
  }
  const digest = hash.digest('hex').slice(0, 12);
  return { dir, files, hash: digest, tag: `${options.repository ?? SANDBOX_IMAGE_REPOSITORY}:${digest}` };
}

const loaded = new Map<string, Recipe>();

/**
 * The recipe, read once per process: the files ship with the program and do not change
 * under it. Cheap after the first call.
 */
export function loadRecipe(name: string = RECIPE_NAME): Recipe {
  let recipe = loaded.get(name);
  if (!recipe) {
    recipe =
      name === DESKTOP_RECIPE_NAME
        ? readRecipe(findRecipeDir(name), { repository: imageRepository(name), base: sandboxImageTag() })
        : readRecipe(findRecipeDir(name), { repository: imageRepository(name) });
    loaded.set(name, recipe);
  }
  return recipe;
}

/** The tag of the sandbox image for this version of the recipe: agent-sandboxes/sandbox:<hash> (see imageRepository). */
export function sandboxImageTag(): string {
  return loadRecipe().tag;
}

/** The tag of the desktop image for this version: agent-sandboxes/desktop:<hash>. */
export function desktopImageTag(): string {
  return loadRecipe(DESKTOP_RECIPE_NAME).tag;
}
