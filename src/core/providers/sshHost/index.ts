export { SshHostProvider, type SshHostProviderOptions } from './sshHostProvider';
export { dockerOverSsh } from './dockerOverSsh';
export { containerOwner } from './refs';
