/** One undo step per dictated utterance: which grouped edit joins the one before (core/undo.ts). */

import assert from "node:assert/strict";
import { test } from "node:test";

import { UNDO_GROUP_LABEL, UndoGroups, undoGroupOf } from "../src/core/undo";

test("only the server's undo-group labels name a group", () => {
  assert.equal(undoGroupOf(`${UNDO_GROUP_LABEL}item_1`), `${UNDO_GROUP_LABEL}item_1`);
  assert.equal(undoGroupOf("Rename symbol"), undefined);
  assert.equal(undoGroupOf(undefined), undefined);
});

test("an utterance's edits join while nothing else changed the document", () => {
  const groups = new UndoGroups();
  const a = `${UNDO_GROUP_LABEL}a`;
  const b = `${UNDO_GROUP_LABEL}b`;
  assert.equal(groups.joins(a, "file:///n", 1), false); // the utterance's first words: a new step
  groups.applied(a, "file:///n", 2);
  assert.equal(groups.joins(a, "file:///n", 2), true); // its next words and its final text
  assert.equal(groups.joins(b, "file:///n", 2), false); // the next utterance: a step of its own
  assert.equal(groups.joins(a, "file:///n", 3), false); // the user typed in between
  assert.equal(groups.joins(a, "file:///other", 2), false);
  groups.applied(a, "file:///n", undefined); // refused: the next edit starts afresh
  assert.equal(groups.joins(a, "file:///n", 2), false);
});
