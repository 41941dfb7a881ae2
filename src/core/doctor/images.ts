/** Checks of the images sandboxes run: built, and built from this version's recipe. */
import type Dockerode from 'dockerode';
import { describeError } from '../errors';
import { inspectImage } from '../images/engine';
import { DESKTOP_RECIPE_NAME, RECIPE_NAME, imageRepository, loadRecipe } from '../images/recipe';
import { fail, pass, warn, type CheckResult } from './types';

interface ImageKind {
  id: string;
  title: string;
  recipe: string;
  buildCommand: string;
  /**
   * Only desktop sandboxes need the desktop image, and `start --desktop` builds it when missing:
   * without it the machine is still fully usable, so its absence is a warning.
   */
  optional: boolean;
}

const KINDS: ImageKind[] = [
  { id: 'image.sandbox', title: 'Sandbox image', recipe: RECIPE_NAME, buildCommand: 'image build', optional: false },
  {
    id: 'image.desktop',
    title: 'Desktop image',
    recipe: DESKTOP_RECIPE_NAME,
    buildCommand: 'image build --desktop',
    optional: true,
  },
];

export async function imageChecks(docker: Dockerode, cli: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const kind of KINDS) results.push(await imageCheck(docker, kind, cli));
  return results;
}

async function imageCheck(docker: Dockerode, kind: ImageKind, cli: string): Promise<CheckResult> {
  const build = `Run \`${cli} ${kind.buildCommand}\``;
  let tag: string;
  try {
    tag = loadRecipe(kind.recipe).tag;
  } catch (error) {
    return fail(kind.id, kind.title, describeError(error), 'Reinstall Agent Sandboxes so that its images folder is complete.');
  }
  try {
    if (await inspectImage(docker, tag)) return pass(kind.id, kind.title, `${tag} is built from this version's recipe.`);
    const older = await otherTags(docker, imageRepository(kind.recipe), tag);
    const named = older.slice(0, 3).join(', ') + (older.length > 3 ? ` and ${older.length - 3} more` : '');
    const found = older.length
      ? `${tag} is not built; ${named} ${older.length === 1 ? 'is' : 'are'} there, built from another version's recipe.`
      : `${tag} is not built yet.`;
    if (kind.optional) {
      return warn(kind.id, kind.title, `${found} Only desktop sandboxes need it; the first \`${cli} start --desktop\` builds it.`, `${build} to build it now.`);
    }
    return fail(kind.id, kind.title, `${found} The first sandbox would wait minutes for its build.`, `${build}.`);
  } catch (error) {
    return fail(kind.id, kind.title, `Could not look for ${tag}: ${describeError(error)}`, 'Check that the Docker engine answers, then run the doctor again.');
  }
}

/** The repository's other tags on the engine: images of older (or newer) recipes. */
async function otherTags(docker: Dockerode, repository: string, current: string): Promise<string[]> {
  const images = await docker.listImages({ filters: { reference: [repository] } });
  const tags = images.flatMap((image) => image.RepoTags ?? []).filter((tag) => tag.startsWith(`${repository}:`) && tag !== current);
  return [...new Set(tags)].sort();
}
