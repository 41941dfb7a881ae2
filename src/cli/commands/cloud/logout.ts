import { EXIT } from '../../../app/exitStatus';
import { signOut } from '../../../core/cloud/account';
import { noArguments, type Command } from '../../command';

export const cloudLogoutCommand: Command = {
  name: 'logout',
  usage: [],
  help: `Usage: sandbox cloud logout
Removes the saved DigitalOcean token from the state dir. Cloud sandboxes keep running and
costing; without a token the daemon cannot end them at their time-to-live, so delete or
hibernate them first. Revoke the token in the control panel if it may have leaked.`,
  async run(args, context) {
    noArguments(args, 'sandbox cloud logout');
    const result = await signOut(context.controller.store.root);
    if (context.json) {
      context.printJson(result);
      return EXIT.ok;
    }
    context.out(result.removed ? `Signed out: removed ${result.tokenFile}.` : 'No DigitalOcean token was saved in this state dir.');
    if (result.environmentStillSet) context.out('DIGITALOCEAN_TOKEN is still set in this environment, so commands run here stay signed in.');
    return EXIT.ok;
  },
};
