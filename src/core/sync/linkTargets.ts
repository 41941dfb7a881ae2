import * as path from 'node:path';

/** What to do with one symlink of a pulled archive. */
export type LinkDecision =
  /** Write the link with this target: relative, only leading '..', never leaving the folder. */
  | { write: string }
  /** Do not write it; `reason` completes "the link NAME ...". */
  | { skip: string };

/** The longest link target Linux stores (PATH_MAX less the NUL). */
export const MAX_LINK_TARGET_BYTES = 4095;

/**
 * Decides the symlinks of one archive. A link's target is read as the sandbox reads it: an
 * absolute target names a place in the sandbox, so it is inside only under `sourceDir` (the
 * folder the archive was made from); a relative one starts at the link's own folder. The walk
 * follows '..' the way the kernel does: after a component that is itself a link of the archive,
 * '..' climbs from where that link leads. A target that ends inside the folder is rewritten as
 * the equivalent relative path with every '..' first ('../../lib/x'), which stays inside whatever
 * links the local tree holds; one that ends outside is skipped.
 */
export class LinkResolver {
  private readonly source: string[];
  /** Where each archive link fully leads, as absolute sandbox components; 'loop' for a cycle. */
  private readonly resolved = new Map<string, string[] | 'loop'>();
  private readonly resolving = new Set<string>();

  /**
   * @param sourceDir absolute POSIX path in the sandbox
   * @param linkTarget the target of the archive's symlink at a relative path, if there is one
   */
  constructor(
    private readonly sourceDir: string,
    private readonly linkTarget: (relativePath: string) => string | undefined,
  ) {
    this.source = components(sourceDir);
  }

  decide(linkPath: string, target: string): LinkDecision {
    const walk = this.walk(linkPath, target);
    if (walk.loop) return { skip: `goes through a loop of links (${walk.loop})` };
    const inside = this.relativeInside(walk.stack);
    if (inside === undefined) {
      const through = walk.through ? ` through the link ${JSON.stringify(walk.through)}` : '';
      return target.startsWith('/') && !walk.through ? { skip: `points outside ${this.sourceDir}` } : { skip: `leads outside ${this.sourceDir}${through}` };
    }
    const rewritten = relativeTarget(parentOf(linkPath), inside);
    if (Buffer.byteLength(rewritten) > MAX_LINK_TARGET_BYTES) return { skip: 'would need a relative target longer than this system allows' };
    return { write: rewritten };
  }

  /**
   * Walks `target` from the link's folder (or from '/'), as absolute sandbox components. Names
   * stay as written, so chains of links are kept; only a '..' right after an archive link makes
   * the walk jump to where that link leads.
   */
  private walk(linkPath: string, target: string): { stack: string[]; through?: string; loop?: string } {
    const stack = target.startsWith('/') ? [] : [...this.source, ...components(parentOf(linkPath))];
    let through: string | undefined;
    for (const part of components(target)) {
      if (part !== '..') {
        stack.push(part);
        continue;
      }
      const relative = this.relativeInside(stack);
      if (relative && this.linkTarget(relative) !== undefined) {
        const leads = this.fullyResolve(relative);
        if (leads === 'loop') return { stack, loop: relative };
        if (this.relativeInside(leads) === undefined) through ??= relative;
        stack.splice(0, stack.length, ...leads);
      }
      stack.pop();
    }
    return { stack, through };
  }

  /** Where the archive link at `relativePath` leads once every link on the way is followed. */
  private fullyResolve(relativePath: string): string[] | 'loop' {
    const known = this.resolved.get(relativePath);
    if (known) return known;
    if (this.resolving.has(relativePath)) return 'loop';
    this.resolving.add(relativePath);
    const { stack, loop } = this.walk(relativePath, this.linkTarget(relativePath)!);
    let result: string[] | 'loop' = loop ? 'loop' : stack;
    // The last component may be a link too: follow it as the kernel would before a '..'.
    const last = result === 'loop' ? undefined : this.relativeInside(result);
    if (last && this.linkTarget(last) !== undefined) result = this.fullyResolve(last);
    this.resolving.delete(relativePath);
    this.resolved.set(relativePath, result);
    return result;
  }

  /** The path relative to the source folder ('' for the folder itself), or undefined when outside it. */
  private relativeInside(stack: readonly string[]): string | undefined {
    if (stack.length < this.source.length) return undefined;
    for (let index = 0; index < this.source.length; index++) if (stack[index] !== this.source[index]) return undefined;
    return stack.slice(this.source.length).join('/');
  }
}

/** Non-empty components other than '.'. */
function components(posixPath: string): string[] {
  return posixPath.split('/').filter((part) => part !== '' && part !== '.');
}

function parentOf(relativePath: string): string {
  const parent = path.posix.dirname(relativePath);
  return parent === '.' ? '' : parent;
}

/** `to` as seen from the folder `from` (both relative to the root, without '..'): '../..' first, then names. */
function relativeTarget(from: string, to: string): string {
  const fromParts = components(from);
  const toParts = components(to);
  let common = 0;
  while (common < fromParts.length && common < toParts.length && fromParts[common] === toParts[common]) common++;
  const parts = [...Array<string>(fromParts.length - common).fill('..'), ...toParts.slice(common)];
  return parts.length === 0 ? '.' : parts.join('/');
}
