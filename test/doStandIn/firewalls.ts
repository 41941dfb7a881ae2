import type { Firewall } from '../../src/core/providers/digitalocean/api/client';
import { isoSeconds, missing, refuse, validTags } from './refusals';

/** The account's cloud firewalls; ids are deterministic UUIDs. */
export class FirewallStore {
  readonly #firewalls = new Map<string, Firewall>();
  #next = 1;

  constructor(
    /** Called with the tags a firewall names, which exist from then on as on DigitalOcean. */
    private readonly noteTags: (tags: string[]) => void,
    private readonly now: () => number,
  ) {}

  #tags(tags: unknown): string[] {
    const valid = validTags(tags);
    this.noteTags(valid);
    return valid;
  }

  #get(id: string): Firewall {
    const firewall = this.#firewalls.get(id);
    if (!firewall) throw missing('firewall');
    return firewall;
  }

  create(body: Partial<Firewall>): Firewall {
    if (typeof body.name !== 'string' || !body.name) throw refuse('Name is required for a firewall.');
    const id = `00000000-0000-4000-8000-${String(this.#next++).padStart(12, '0')}`;
    const firewall: Firewall = {
      id,
      status: 'succeeded',
      created_at: isoSeconds(this.now()),
      pending_changes: [],
      name: body.name,
      droplet_ids: [],
      tags: this.#tags(body.tags),
      inbound_rules: body.inbound_rules ?? [],
      outbound_rules: body.outbound_rules ?? [],
    };
    this.#firewalls.set(id, firewall);
    return structuredClone(firewall);
  }

  get(id: string): Firewall {
    return structuredClone(this.#get(id));
  }

  list(): Firewall[] {
    return [...this.#firewalls.values()].map((firewall) => structuredClone(firewall));
  }

  /** Replaces the firewall as a PUT does: what the body leaves out is gone. */
  update(id: string, body: Partial<Firewall>): Firewall {
    const firewall = this.#get(id);
    Object.assign(firewall, {
      name: body.name ?? firewall.name,
      tags: this.#tags(body.tags),
      inbound_rules: body.inbound_rules ?? [],
      outbound_rules: body.outbound_rules ?? [],
    });
    return structuredClone(firewall);
  }

  changeTags(id: string, tags: unknown, add: boolean): void {
    const firewall = this.#get(id);
    const changed = this.#tags(tags);
    const kept = (firewall.tags ?? []).filter((tag) => !changed.includes(tag));
    firewall.tags = add ? [...kept, ...changed] : kept;
  }

  delete(id: string): void {
    if (!this.#firewalls.delete(id)) throw missing('firewall');
  }
}
