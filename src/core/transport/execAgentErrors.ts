import { SandboxError } from '../errors';

/** Thrown by `run` when the channel was already gone before the command was sent: safe to retry elsewhere. */
export class ChannelGoneError extends Error {
  constructor() {
    super('The exec channel is closed.');
    this.name = 'ChannelGoneError';
  }
}

/** `why`: what the agent last said on stderr, or why we gave up on it. */
export function lostError(why = 'the sandbox stopped, or its exec agent ended'): SandboxError {
  return new SandboxError('provider-error', `The connection to the sandbox was lost while the command ran (${why}); run the command again.`);
}

export function closedError(): SandboxError {
  return new SandboxError(
    'provider-error',
    'The connection to the sandbox was closed while the command ran (Agent Sandboxes is shutting down); the command was stopped.',
  );
}

export function abandonedError(): SandboxError {
  return new SandboxError('provider-error', 'The command could not be stopped inside the sandbox; restart the sandbox to be sure it is gone.');
}
