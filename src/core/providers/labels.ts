/** The labels live in src/core/labels.ts, shared with the images; this path still names them for the providers' callers. */
export { LABEL_PREFIX, LABELS } from '../labels';
