/** What an image build reports, takes and answers, shared by the files of the build. */
export interface ImageBuildProgress {
  /** What is happening, short: "Step 3/9", "mmdebstrap", "Pulling debian:bookworm-slim". */
  step: string;
  /** The detail of the moment: an instruction, a line of apt or mmdebstrap output. */
  message?: string;
  /** 0..1 over the whole call, when it can be estimated; never goes down. */
  fraction?: number;
}

export interface EnsureImageOptions {
  /** Build again even when the tag exists (the recipe runs without the layer cache; the base is reused). */
  force?: boolean;
  onProgress?: (progress: ImageBuildProgress) => void;
  signal?: AbortSignal;
  /** A recipe directory other than the one shipped (images/sandbox); for tests and recipe work. */
  recipeDir?: string;
  /** The desktop image (built on the sandbox image, which is built first when missing). */
  desktop?: boolean;
}

export interface EnsureImageResult {
  tag: string;
  /** False when the image was already there. */
  built: boolean;
  /** The base image it was built on ("" when that is not known for an image found ready). */
  base: string;
  durationMs: number;
}

/** The name of the work in a cancellation message. */
export const BUILD_WHAT = 'Building the sandbox image';

/** The result of one build, before the caller's own duration is added. */
export type BuildOutcome = Omit<EnsureImageResult, 'durationMs'>;

export interface BaseImage {
  ref: string;
  id: string;
  /** True when this call made it with mmdebstrap. */
  made: boolean;
}

export interface BuildContext {
  force: boolean;
  /** The image to build on, instead of looking for a Debian base. */
  fixedBase?: BaseImage;
  report: (progress: ImageBuildProgress) => void;
  signal: AbortSignal;
}
