import { EXIT } from '../../app/exitStatus';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxError } from '../../core/errors';
import { addSshInclude, defaultUserSshConfig, readSshInclude, removeSshInclude } from '../../core/ssh/userConfig';
import { parse, type Command } from '../command';

export const sshConfigCommand: Command = {
  name: 'ssh-config',
  usage: [['ssh-config [NAME]', 'print our SSH config; --install adds it to ~/.ssh/config']],
  help: `Usage: sandbox ssh-config [NAME] [--install | --uninstall] [--file PATH]
Without options: prints the Host blocks of our SSH config (every running sandbox, or NAME's).
--install     adds one Include of our config at the top of your SSH config, so \`ssh sandbox-NAME\`
              and VS Code's Remote-SSH know every sandbox; nothing else in the file changes
--uninstall   takes that Include out again
--file PATH   your SSH config (default ~/.ssh/config)`,
  async run(args, context) {
    const { values, positionals } = parse(args, {
      install: { type: 'boolean' },
      uninstall: { type: 'boolean' },
      file: { type: 'string' },
    });
    if (positionals.length > 1) throw new SandboxError('invalid-input', 'Usage: sandbox ssh-config [NAME] [--install | --uninstall].');
    if (values.install && values.uninstall) throw new SandboxError('invalid-input', 'Give --install or --uninstall, not both.');
    if ((values.install || values.uninstall) && positionals.length > 0) {
      throw new SandboxError(
        'invalid-input',
        `--install and --uninstall act on the whole config (every sandbox), not on ${positionals[0]}; leave the name out.`,
      );
    }
    const userConfig = values.file ? path.resolve(values.file) : defaultUserSshConfig();
    const records = await context.controller.list();
    const configFile = await context.controller.refreshSshConfig(records);
    if (values.install || values.uninstall) {
      const { changed } = values.install ? await addSshInclude(userConfig, configFile) : await removeSshInclude(userConfig);
      if (context.json) context.printJson({ userConfig, configFile, included: Boolean(values.install), changed });
      else if (values.install) {
        const login = userConfig === defaultUserSshConfig() ? 'ssh sandbox-NAME' : `ssh -F ${userConfig} sandbox-NAME`;
        context.out(changed ? `${userConfig} now includes ${configFile}: \`${login}\` works.` : `${userConfig} already includes ${configFile}.`);
      } else context.out(changed ? `Removed the Include of ${configFile} from ${userConfig}.` : `${userConfig} has no Include of ours.`);
      return EXIT.ok;
    }
    const wanted = positionals[0] ? (await context.controller.sshTarget(positionals[0])).alias : undefined;
    const text = await readFile(configFile, 'utf8');
    const blocks = text.split(/\n(?=Host )/).filter((block) => block.startsWith('Host ') && (!wanted || block.startsWith(`Host ${wanted}\n`)));
    if (context.json) {
      context.printJson({
        configFile,
        knownHostsFile: context.controller.store.knownHostsPath,
        hosts: blocks.map((b) => b.split('\n')[0]!.slice(5)),
        userConfig,
        includedFrom: (await readSshInclude(userConfig)) === configFile ? userConfig : null,
      });
    } else {
      context.out(blocks.length ? blocks.map((b) => b.trimEnd()).join('\n\n') : '# No running sandbox: start one with `sandbox start`.');
    }
    return EXIT.ok;
  },
};
