import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { SandboxError, cancelledError } from '../errors';
import { BUILD_WHAT, type BaseImage, type BuildContext } from './buildTypes';
import { engineError, followJsonStream, inspectImage, isAbortError, statusCode } from './engine';
import { IMAGE_LABELS, type Recipe } from './recipe';

/** Lines of build output kept for an error message. */
const KEPT_LINES = 30;
const ANSI_ESCAPE = /\u001b\[[0-9;]*[A-Za-z]/g;

/** The build context: the recipe's files with fixed owner, time and modes. */
function recipeTar(recipe: Recipe): Readable {
  const pack = tar.pack();
  const mtime = new Date(Date.UTC(2000, 0, 1));
  for (const file of recipe.files) {
    pack.entry({ name: file.path, size: file.content.length, mode: file.mode, mtime, uid: 0, gid: 0 }, file.content);
  }
  pack.finalize();
  return pack as unknown as Readable;
}

export async function buildRecipe(
  docker: Dockerode,
  recipe: Recipe,
  base: BaseImage,
  context: BuildContext,
  overall: (share: number) => number,
): Promise<void> {
  const { report, signal } = context;
  let step = 'Starting the build';
  let instruction = '';
  let stepShare = 0;
  let partial = '';
  const lastLines: string[] = [];
  /** Images the steps of this build made (" ---> id" lines), newest last. */
  const stepImages: string[] = [];
  const startedSeconds = Math.floor(Date.now() / 1000);
  let failure: string | undefined;
  // Which recipe, from where: an installed extension builds from the recipes it ships.
  report({ step, message: `${recipe.tag} from ${recipe.dir}, on ${base.ref}`, fraction: overall(0) });

  let response: NodeJS.ReadableStream;
  try {
    response = await docker.buildImage(recipeTar(recipe), {
      t: recipe.tag,
      buildargs: { BASE_IMAGE: base.ref },
      labels: { [IMAGE_LABELS.recipe]: recipe.hash, [IMAGE_LABELS.base]: `${base.ref}@${base.id}` },
      rm: true,
      forcerm: true,
      pull: false,
      nocache: context.force,
      abortSignal: signal,
    });
  } catch (error) {
    throw engineError(docker, error, `build the sandbox image ${recipe.tag}`, signal);
  }

  try {
    await followJsonStream(
      response,
      (message) => {
        if (message.error || message.errorDetail) {
          failure = message.errorDetail?.message ?? message.error;
          return;
        }
        if (message.stream === undefined) return;
        // Output comes in pieces that need not end at a line's end; the classic builder
        // also paints a RUN's stderr with terminal colours, which are dropped.
        const lines = (partial + message.stream).replace(ANSI_ESCAPE, '').split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.trimEnd();
          if (line.trim() === '') continue;
          const stepMatch = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
          if (stepMatch) {
            const [, current, total, text] = stepMatch;
            step = `Step ${current}/${total}`;
            instruction = text!;
            stepShare = (Number(current) - 1) / Number(total);
            report({ step, message: instruction, fraction: overall(stepShare) });
            continue;
          }
          const layer = /^ ---> ([0-9a-f]{12,64})$/.exec(line);
          // The FROM step answers with the base itself, which is not this build's to remove.
          if (layer && !base.id.replace(/^sha256:/, '').startsWith(layer[1]!)) stepImages.push(layer[1]!);
          if (/^ ---> /.test(line) || /^Removing intermediate container/.test(line)) continue;
          lastLines.push(line);
          if (lastLines.length > KEPT_LINES) lastLines.shift();
          report({ step, message: line });
        }
      },
      signal,
      BUILD_WHAT,
    );
  } catch (error) {
    if (context.force) {
      // A step the engine was finishing when the build was cancelled leaves its image without our
      // having read its id: those are found as fresh untagged children of the base or of a step.
      if (signal.aborted || isAbortError(error)) stepImages.push(...(await lateStepImages(docker, base.id, stepImages, startedSeconds)));
      await removeStepImages(docker, stepImages);
    }
    if (signal.aborted || isAbortError(error)) throw cancelledError(BUILD_WHAT);
    throw engineError(docker, error, `build the sandbox image ${recipe.tag}`, signal);
  }

  if (partial.trim() !== '') lastLines.push(partial.replace(ANSI_ESCAPE, '').trimEnd());
  if (failure !== undefined) {
    // The engine repeats the whole RUN line in its message; the step already names it.
    const reason = failure.trim().replace(/^The command '[\s\S]*' returned/, 'the command returned');
    if (context.force) await removeStepImages(docker, stepImages);
    const aptErrors = lastLines.filter((line) => /^(E|W): /.test(line)).slice(-3);
    const tail = (aptErrors.length > 0 ? aptErrors : lastLines.slice(-3)).join(' | ');
    const at = instruction ? `${step} (${shorten(instruction.replace(/\s+/g, ' '), 80)})` : step;
    throw new SandboxError(
      'provider-error',
      `Building the sandbox image failed at ${at}: ${reason}${tail ? `; last output: ${shorten(tail, 400)}` : ''}.`,
    );
  }
  if (!(await inspectImage(docker, recipe.tag, signal))) {
    throw new SandboxError('provider-error', `The build of ${recipe.tag} ended without an image; run it again and look at the engine's log.`);
  }
}

/**
 * After a forced (cache-less) build that did not finish: its step images are fresh, untagged
 * and of no use to anyone, so they go. An image something else still needs (a tag, a child,
 * a container) is refused by the engine and stays.
 */
async function removeStepImages(docker: Dockerode, ids: string[]): Promise<void> {
  for (const id of [...ids].reverse()) {
    const image = await docker.getImage(id).inspect().catch(() => undefined);
    if (!image || (image.RepoTags ?? []).length > 0) continue;
    // The engine may still be removing the container of a cancelled step, which holds the image.
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const outcome = await docker.getImage(id).remove({ noprune: true }).then(() => 'gone', (error: unknown) => statusCode(error));
      if (outcome !== 409) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Untagged images made since the build began whose parent is the base or one of its steps, after the engine settles. */
async function lateStepImages(docker: Dockerode, baseId: string, known: string[], sinceSeconds: number): Promise<string[]> {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const images = await docker.listImages({ all: true, filters: { dangling: ['true'] } }).catch(() => []);
  const parents = new Set([baseId]);
  for (const image of images) if (known.some((id) => image.Id.replace(/^sha256:/, '').startsWith(id))) parents.add(image.Id);
  const late: string[] = [];
  // Children after their parents: a chain of steps is walked from the base down.
  for (let grew = true; grew; ) {
    grew = false;
    for (const image of images) {
      if (image.Created >= sinceSeconds && parents.has(image.ParentId) && !parents.has(image.Id)) {
        parents.add(image.Id);
        late.push(image.Id.replace(/^sha256:/, ''));
        grew = true;
      }
    }
  }
  return late;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
