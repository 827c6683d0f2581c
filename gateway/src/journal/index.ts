export { inspectJournal, Journal, type JournalOptions, type JournalStats } from './journal.js';
