export { Journal, type JournalOptions, type JournalStats } from './journal.js';
