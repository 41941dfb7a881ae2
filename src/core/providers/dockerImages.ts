import { SandboxError } from '../errors';
import { desktopImageTag, ensureSandboxImage, sandboxImageTag, type EnsureImageResult } from '../images';
import { assertSandboxImage } from '../images/sandboxImage';
import { validateProfile } from '../profile';
import type { DockerProvider } from './docker';
import type { CloudOs } from '../model';
import type { CreatePlan, CreateRequest } from './provider';

export interface ImageBuildRequest {
  force?: boolean;
  desktop?: boolean;
  /** Cloud images: the OS and region of the builder (the provider's defaults otherwise). */
  os?: CloudOs;
  region?: string;
  signal?: AbortSignal;
  onProgress?: (progress: { message: string; fraction?: number }) => void;
}

/** Builds the sandbox image (or the desktop one) on the provider's engine: `sandbox image build`. */
export async function buildDockerImage(provider: DockerProvider, options: ImageBuildRequest): Promise<EnsureImageResult> {
  await provider.ping(options.signal);
  return ensureSandboxImage(provider.docker, {
    force: options.force,
    desktop: options.desktop,
    signal: options.signal,
    onProgress: (p) => options.onProgress?.({ message: p.message ? `${p.step}: ${p.message}` : p.step, fraction: p.fraction }),
  });
}

/**
 * The checks before a create on a Docker engine: the profile fits the engine, and the image is
 * there and is a sandbox image. The default image is built when asked and missing.
 */
export async function prepareDockerCreate(provider: DockerProvider, request: CreateRequest): Promise<CreatePlan> {
  const { profile } = request;
  const desktop = Boolean(request.requested.desktop);
  const defaultImage = desktop ? desktopImageTag() : sandboxImageTag();
  const [capacity, imageExists] = await Promise.all([provider.capacity(), provider.imageExists(profile.image)]);
  validateProfile(profile, capacity);
  if (!imageExists) {
    if (!request.buildImageIfMissing || profile.image !== defaultImage) {
      throw new SandboxError(
        'image-missing',
        profile.image === defaultImage
          ? `The image ${profile.image} is not built yet; run \`sandbox image build${desktop ? ' --desktop' : ''}\` first.`
          : `The image ${profile.image} is not on this Docker engine; build or load it there first.`,
      );
    }
    await buildDockerImage(provider, { signal: request.signal, onProgress: request.onProgress, desktop });
  } else {
    await assertSandboxImage(provider.docker, profile.image);
  }
  return { profile, sandboxKeys: true };
}
