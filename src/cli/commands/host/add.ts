import { EXIT } from '../../../app/exitStatus';
import { parseNumber } from '../../../app/parse';
import { SandboxError } from '../../../core/errors';
import { addHost } from '../../../core/hosts/commands';
import type { SshHost } from '../../../core/hosts/registry';
import { fingerprintMatches } from '../../../core/hosts/scan';
import { ProgressLine } from '../../output';
import { parse, requireOne, selfCommand, type Command } from '../../command';
import { askYesNo } from '../../prompt';

export const hostAddCommand: Command = {
  name: 'add',
  usage: [['host add NAME --host H --user U (--identity FILE | --agent)', 'bring your own Linux machine (its host key is confirmed, then pinned)']],
  help: `Usage: sandbox host add NAME --host ADDRESS [--port 22] --user USER (--identity FILE | --agent) [--fingerprint SHA256:...]
Connects without logging in, shows the host key's fingerprint and asks you to confirm it (on a
terminal); elsewhere --fingerprint must name the key the host presents. The key is then pinned:
a host presenting any other key is refused. Where Docker answers for USER there, sandboxes on the
host are containers; otherwise they are folders under ~/.agent-sandboxes/sandboxes there.`,
  async run(args, context) {
    const provider = context.controller.sshHosts;
    const { values, positionals } = parse(args, {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      identity: { type: 'string', short: 'i' },
      agent: { type: 'boolean' },
      fingerprint: { type: 'string' },
    });
    const name = requireOne(positionals, 'host name', 'sandbox host add NAME --host ADDRESS --user USER (--identity FILE | --agent)');
    if (values.host === undefined || values.user === undefined) {
      throw new SandboxError('invalid-input', 'Give the address and the login: sandbox host add NAME --host ADDRESS --user USER (--identity FILE | --agent).');
    }
    const line = new ProgressLine();
    let added: SshHost;
    try {
      added = await addHost(provider, {
        name,
        host: values.host,
        port: values.port !== undefined ? parseNumber(values.port, 'port') : undefined,
        user: values.user,
        identityFile: values.identity,
        agent: values.agent,
        onStep: (message) => (context.json ? undefined : line.update(message)),
        confirm: async (presented) => {
          line.done();
          if (values.fingerprint !== undefined) {
            if (fingerprintMatches(values.fingerprint, presented.fingerprint)) return true;
            throw new SandboxError(
              'host-key-mismatch',
              `${presented.address} presented the ${presented.type} key ${presented.fingerprint}, not the --fingerprint ${values.fingerprint.trim()}, so nothing was saved; check the key on the host (\`ssh-keygen -lf\` of its host key file) and whether something sits between you and it.`,
            );
          }
          if (!process.stdin.isTTY || !process.stderr.isTTY) {
            throw new SandboxError(
              'invalid-input',
              `${presented.address} presented an ${presented.type} key, and nothing was saved: pinning needs its fingerprint read on the host itself (\`ssh-keygen -lf /etc/ssh/ssh_host_${presented.type.toLowerCase()}_key.pub\` there, or your provider's console), given as --fingerprint SHA256:...; the key this connection saw could be an impostor's, so it is not offered here.`,
            );
          }
          process.stderr.write(
            `The host key of ${presented.address} is ${presented.type} ${presented.fingerprint}.\n` +
              'Compare it with what the host itself shows (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` there).\n',
          );
          return askYesNo(`Trust this key for ${name}? [y/N] `);
        },
      });
    } finally {
      line.done();
    }
    if (context.json) context.printJson(added);
    else {
      context.out(`Added host ${added.name} (${added.user}@${added.host}:${added.port}); pinned its ${added.hostKey.split(' ')[0]} key ${added.fingerprint}.`);
      context.out(
        added.docker
          ? `Docker answers there for ${added.user}: its sandboxes are containers. Start one: ${selfCommand()} start --host ${added.name} [PATH]`
          : `No Docker there for ${added.user}: its sandboxes are folders under ${added.home}/.agent-sandboxes/sandboxes, sharing ${added.user}'s account (see the README). Start one: ${selfCommand()} start --host ${added.name} [PATH]`,
      );
    }
    return EXIT.ok;
  },
};
