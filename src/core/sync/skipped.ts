/**
 * Why a push left a local path out:
 * - `unreadable`: it could not be opened or listed (permissions, an I/O error);
 * - `vanished`: it was deleted, or replaced by a link, between the walk and the read;
 * - `changed`: it shrank while it was being sent; the sandbox's copy is cut short until the next push;
 * - `special`: a fifo, socket or device, which has no content to copy.
 */
export type SkipReason = 'unreadable' | 'vanished' | 'changed' | 'special';

export interface SkippedPath {
  /** Relative POSIX path inside the pushed folder. */
  path: string;
  reason: SkipReason;
}

/** The skip reason for an error met reading one path, or undefined for errors that must stop the push. */
export function skipReasonFor(error: unknown): SkipReason | undefined {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ELOOP':
      return 'vanished';
    case 'EACCES':
    case 'EPERM':
    case 'EIO':
    case 'ENXIO':
    case 'ENODEV':
    case 'EOPNOTSUPP':
      return 'unreadable';
    default:
      return undefined;
  }
}
