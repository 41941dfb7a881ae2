import type { BusEvent, EventInput, EventType, EventTypes } from './types';

export type EventHandler<E extends BusEvent = BusEvent> = (event: E) => void | Promise<void>;

/** Ends a subscription: call it, or call its `dispose` (so it fits a VS Code disposables list). */
export interface Unsubscribe {
  (): void;
  dispose(): void;
}

export interface SubscribeOptions {
  /**
   * A required subscriber's failure is the emitter's: `emit` waits for it and rejects with its
   * error. Meant for the record the product cannot go without (the sandbox's journal).
   * Other subscribers are isolated: their failures reach only `onSubscriberError`.
   */
  required?: boolean;
}

export interface EventBusOptions {
  /** Told of each failure of a subscriber that is not required; by default nothing is done. */
  onSubscriberError?(error: unknown, event: BusEvent): void;
}

interface Subscription {
  type?: EventType;
  handler: EventHandler;
  required: boolean;
}

/**
 * The core's in-process event bus: the services emit typed events, anything in the process may
 * listen to one type or to all. A listener that throws breaks neither the emitter nor the other
 * listeners, unless it was subscribed as required.
 */
export class EventBus {
  private subscriptions: Subscription[] = [];
  /** Deliveries to subscribers that are not required, still running. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: EventBusOptions = {}) {}

  /** Listens to one type of event. */
  on<K extends EventType>(type: K, handler: EventHandler<EventTypes[K]>, options: SubscribeOptions = {}): Unsubscribe {
    return this.add({ type, handler: handler as EventHandler, required: options.required ?? false });
  }

  /** Listens to every event. */
  onAny(handler: EventHandler, options: SubscribeOptions = {}): Unsubscribe {
    return this.add({ handler, required: options.required ?? false });
  }

  /**
   * Hands the event to its subscribers, in the order they subscribed. Resolves once the required
   * ones are done (rejecting with the first of their errors); the others are not waited for.
   */
  async emit(input: EventInput): Promise<BusEvent> {
    const event = { ...input, time: input.time ?? new Date().toISOString() } as BusEvent;
    const required: Promise<void>[] = [];
    // A copy: a subscriber may unsubscribe (or subscribe) while this event is delivered.
    for (const subscription of [...this.subscriptions]) {
      if (subscription.type !== undefined && subscription.type !== event.type) continue;
      const delivery = deliver(subscription.handler, event);
      if (subscription.required) required.push(delivery);
      else this.track(delivery.catch((error: unknown) => this.reportFailure(error, event)));
    }
    const results = await Promise.allSettled(required);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    return event;
  }

  /** Resolves when every delivery to subscribers that are not required has finished. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** How many subscriptions are active (all types). */
  get size(): number {
    return this.subscriptions.length;
  }

  private add(subscription: Subscription): Unsubscribe {
    this.subscriptions.push(subscription);
    const unsubscribe = (() => {
      this.subscriptions = this.subscriptions.filter((candidate) => candidate !== subscription);
    }) as Unsubscribe;
    unsubscribe.dispose = unsubscribe;
    return unsubscribe;
  }

  private track(delivery: Promise<void>): void {
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
  }

  private reportFailure(error: unknown, event: BusEvent): void {
    try {
      this.options.onSubscriberError?.(error, event);
    } catch {
      // A failing error hook must not break delivery either.
    }
  }
}

/** Runs a handler, turning a synchronous throw into a rejection. */
function deliver(handler: EventHandler, event: BusEvent): Promise<void> {
  try {
    return Promise.resolve(handler(event));
  } catch (error) {
    return Promise.reject(error);
  }
}
