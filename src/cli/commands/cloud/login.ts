import { EXIT } from '../../../app/exitStatus';
import { signIn } from '../../../core/cloud/account';
import { noArguments, type Command } from '../../command';
import { readSecret } from '../../prompt';

export const cloudLoginCommand: Command = {
  name: 'login',
  usage: [['cloud login|logout|status|ssh-source', 'sign in to DigitalOcean for cloud sandboxes; where SSH to them may come from']],
  help: `Usage: sandbox cloud login
Asks for a DigitalOcean personal access token (typed without echo, or piped on stdin: there is
no option for it, so it never shows in a process list), checks it against the account, and
keeps it in the state dir (cloud/digitalocean-token, readable by you only). The CLI and the
daemon use it; the daemon enforces the budget and each cloud sandbox's time-to-live with it.
A token DigitalOcean refuses is not saved. DIGITALOCEAN_TOKEN, when set, wins over the file.`,
  async run(args, context) {
    noArguments(args, 'sandbox cloud login');
    const token = await readSecret('DigitalOcean token (API > Tokens; not shown as you type): ', context.signal);
    const result = await signIn(context.controller.store.root, token, process.env, context.signal);
    if (context.json) {
      context.printJson({ signedIn: true, account: result.account, tokenFile: result.tokenFile, environmentOverrides: result.environmentOverrides });
      return EXIT.ok;
    }
    context.out(`Signed in to DigitalOcean as ${result.account.email} (account ${result.account.status}).`);
    context.out(
      `The token is kept in ${result.tokenFile}, readable by you only; the daemon uses it to enforce the budget and each cloud sandbox's time-to-live.`,
    );
    if (result.environmentOverrides) process.stderr.write('sandbox: DIGITALOCEAN_TOKEN is set in this environment and is used instead of the saved token.\n');
    return EXIT.ok;
  },
};
