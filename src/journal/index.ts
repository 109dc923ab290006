export { Journal, JOURNAL_READ_MAX, type Durability, type JournalEntry } from "./journal.ts";
export { GroupCommit } from "./group-commit.ts";
export { assertEventShape } from "./event-shape.ts";
