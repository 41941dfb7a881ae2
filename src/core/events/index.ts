export { EventBus, type EventBusOptions, type EventHandler, type SubscribeOptions, type Unsubscribe } from './bus';
export { EVENT_LOG_FILE, EventLog, ROTATED_EVENT_LOG_FILE, type EventLogOptions, type EventLogRead } from './eventLog';
export { journalEntryOf, subscribeJournal } from './journalSubscriber';
export * from './types';
