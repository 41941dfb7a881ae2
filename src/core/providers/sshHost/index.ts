export { SshHostProvider, type SshHostProviderOptions } from './sshHostProvider';
export { dockerOverSsh } from '../../ssh/dockerOverSsh';
export { containerOwner } from './refs';
