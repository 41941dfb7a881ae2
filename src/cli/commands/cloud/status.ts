import { EXIT } from '../../../app/exitStatus';
import { cloudStatus } from '../../../core/cloud/account';
import { noArguments, type Command } from '../../command';

export const cloudStatusCommand: Command = {
  name: 'status',
  usage: [],
  help: `Usage: sandbox cloud status [--json]
Says whether a DigitalOcean token is in use, where it comes from (environment: DIGITALOCEAN_TOKEN;
file: the state dir's token file), and the account's email and status. The token is never shown.
Exit 0 when signed in with a token DigitalOcean accepts, 1 otherwise.`,
  async run(args, context) {
    noArguments(args, 'sandbox cloud status');
    const status = await cloudStatus(context.controller.store.root, process.env, context.signal);
    const ok = status.signedIn && status.account !== undefined;
    if (context.json) {
      context.printJson({
        signedIn: status.signedIn,
        source: status.source ?? null,
        tokenFile: status.tokenFile ?? null,
        apiUrl: status.apiUrl,
        account: status.account ?? null,
        problem: status.problem ?? null,
      });
      return ok ? EXIT.ok : EXIT.failure;
    }
    if (!status.signedIn) {
      context.out('Not signed in to DigitalOcean; run `sandbox cloud login` (or set DIGITALOCEAN_TOKEN).');
      return EXIT.failure;
    }
    const from = status.source === 'environment' ? 'DIGITALOCEAN_TOKEN (environment)' : `the token file ${status.tokenFile}`;
    if (status.account) {
      const note = status.account.statusMessage ? `: ${status.account.statusMessage}` : '';
      context.out(`Signed in to DigitalOcean as ${status.account.email} (account ${status.account.status}${note}), with ${from}.`);
    } else {
      context.out(`A token is set, from ${from}, but the account could not be read: ${status.problem}`);
    }
    return ok ? EXIT.ok : EXIT.failure;
  },
};
