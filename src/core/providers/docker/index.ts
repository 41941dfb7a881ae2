export { DockerProvider, SANDBOX_NETWORK, type DockerProviderOptions } from './dockerProvider';
export { containerName } from './containerSpec';
