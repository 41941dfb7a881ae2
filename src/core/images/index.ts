/** Images of sandboxes: the recipe, its tag, and building it on a Docker engine. */
export {
  ensureSandboxImage,
  type EnsureImageOptions,
  type EnsureImageResult,
  type ImageBuildProgress,
} from './build';
export {
  DESKTOP_IMAGE_REPOSITORY,
  DESKTOP_RECIPE_NAME,
  IMAGE_LABELS,
  IMAGE_NAMESPACE_ENV,
  imageRepository,
  RECIPE_NAME,
  desktopImageTag,
  SANDBOX_IMAGE_REPOSITORY,
  findRecipeDir,
  loadRecipe,
  readRecipe,
  sandboxImageTag,
  type Recipe,
  type RecipeFile,
} from './recipe';
export {
  BASE_RECIPE_LABEL,
  DEBIAN_BASE_REPOSITORY,
  DEBIAN_SLIM_IMAGE,
  DEBIAN_SUITE,
  baseRecipeHash,
  debianBaseTag,
  findMmdebstrap,
  makeDebianBase,
  mmdebstrapOptions,
  type BaseProgress,
  type MakeBaseOptions,
} from './base';
