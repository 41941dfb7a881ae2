/** Incremental push of a local folder into a sandbox, and hostile-input-safe pull back out. */
export { unpackWithTar, type SyncChannel } from './channel';
export { DEFAULT_EXCLUDES, createPathFilter, createTreeFilter, type PathFilter, type TreeFilter } from './ignore';
export { emptyManifest, isUsableManifest, manifestEntry, scanTree, type EntryType, type Manifest, type ManifestEntry, type ScanOptions } from './manifest';
export { diffManifests, pushTree, type ManifestDiff, type PushOptions, type PushProgress, type PushResult } from './push';
export type { ArchiveOwner } from './archiveWriter';
export type { SkipReason, SkippedPath } from './skipped';
export { DEFAULT_PULL_MAX_BYTES, pullTree, type PullOptions, type PullResult } from './pull';
export { extractArchiveSafely, type ArchiveSource, type ExtractResult, type PullProgress, type SafeExtractOptions, type SkippedLink } from './extract';
export type { ReplacedLink } from './merge';
