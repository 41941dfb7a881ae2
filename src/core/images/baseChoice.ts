import type Dockerode from 'dockerode';
import { SandboxError, cancelledError, describeError } from '../errors';
import { DEBIAN_SLIM_IMAGE, debianBaseTag, findMmdebstrap, makeDebianBase, splitTag } from './base';
import { BUILD_WHAT, type BaseImage, type ImageBuildProgress } from './buildTypes';
import { followJsonStream, inspectImage, type EngineMessage } from './engine';

/** How long a pull may go without a word from a registry before we stop waiting for it. */
const PULL_ANSWER_TIMEOUT_MS = 5_000;
/** Share of the progress bar given to making the base, when it has to be made. */
export const BASE_SHARE = 0.45;

/**
 * The base, cheapest first: debian:bookworm-slim or our own base when the engine has one,
 * then a pull of debian:bookworm-slim (given up quickly when no registry answers), then a
 * base made here with mmdebstrap.
 */
export async function resolveBase(docker: Dockerode, report: (progress: ImageBuildProgress) => void, signal: AbortSignal): Promise<BaseImage> {
  const ownTag = debianBaseTag();
  for (const ref of [DEBIAN_SLIM_IMAGE, ownTag]) {
    const image = await inspectImage(docker, ref, signal);
    if (image) {
      report({ step: 'Using the base image', message: ref });
      return { ref, id: image.Id, made: false };
    }
  }
  if (await tryPull(docker, DEBIAN_SLIM_IMAGE, report, signal)) {
    const image = await inspectImage(docker, DEBIAN_SLIM_IMAGE, signal);
    if (image) return { ref: DEBIAN_SLIM_IMAGE, id: image.Id, made: false };
  }
  if (!findMmdebstrap()) {
    throw new SandboxError(
      'image-missing',
      `No ${DEBIAN_SLIM_IMAGE} image is on the Docker engine and none could be pulled, and mmdebstrap is not installed to make one; install it (\`sudo apt-get install mmdebstrap\`) or make ${DEBIAN_SLIM_IMAGE} available to the engine.`,
    );
  }
  const made = await makeDebianBase(docker, {
    tag: ownTag,
    signal,
    onProgress: (progress) =>
      report({ ...progress, fraction: progress.fraction === undefined ? undefined : progress.fraction * BASE_SHARE }),
  });
  return { ref: made.tag, id: made.id, made: true };
}

/**
 * Pulls an image; false (not an error) when no registry answers within the short wait or
 * the pull fails. Once a registry has answered, the pull may take as long as it needs.
 */
async function tryPull(docker: Dockerode, ref: string, report: (progress: ImageBuildProgress) => void, signal: AbortSignal): Promise<boolean> {
  const step = `Pulling ${ref}`;
  report({ step });
  const pullAbort = new AbortController();
  const forward = () => pullAbort.abort();
  signal.addEventListener('abort', forward, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    pullAbort.abort();
  }, PULL_ANSWER_TIMEOUT_MS);
  try {
    const [repo, tag] = splitTag(ref);
    const response = await docker.createImage({ fromImage: repo, tag, abortSignal: pullAbort.signal });
    let failure: string | undefined;
    await followJsonStream(
      response,
      (message: EngineMessage) => {
        if (message.error || message.errorDetail) {
          failure = message.errorDetail?.message ?? message.error;
          return;
        }
        clearTimeout(timer); // a registry answered
        if (message.status) {
          report({ step, message: [message.id, message.status, message.progress].filter(Boolean).join(' ') });
        }
      },
      pullAbort.signal,
      step,
    );
    if (failure) {
      report({ step, message: `No pull: ${failure}` });
      return false;
    }
    return true;
  } catch (error) {
    if (signal.aborted) throw cancelledError(BUILD_WHAT);
    const why = timedOut ? `no registry answered within ${PULL_ANSWER_TIMEOUT_MS / 1000} s` : describeError(error);
    report({ step, message: `No pull: ${why}` });
    return false;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', forward);
  }
}
